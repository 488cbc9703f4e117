import { Migration } from '@mikro-orm/migrations';

/**
 * History entries name the interaction that made each version (http.html#history: entry.request
 * and entry.response): a version created by PUT (update-as-create, or a re-creation after a
 * delete) is `PUT Type/id` answered 201, one changed by PATCH is `PATCH Type/id`. Versions written
 * before this migration keep NULL and are described as before (version 1: POST; later: PUT).
 */
export class Migration20261127002500_history_request extends Migration {
  override async up(): Promise<void> {
    for (const table of ['fhir_resource_history', 'fhir_patient_resource_history']) {
      this.addSql(`ALTER TABLE ${table} ADD COLUMN request_method varchar(6), ADD COLUMN response_status smallint;`);
    }
  }

  override async down(): Promise<void> {
    for (const table of ['fhir_resource_history', 'fhir_patient_resource_history']) {
      this.addSql(`ALTER TABLE ${table} DROP COLUMN request_method, DROP COLUMN response_status;`);
    }
  }
}
