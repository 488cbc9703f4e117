import { Migration } from '@mikro-orm/migrations';

/**
 * The reference index by compartment: Patient/{id}/$everything reads the resources a patient's
 * resources refer to (for the shared ones among them) as one range of it, already in (type, id)
 * order. Without it the statement probed search_reference_res once per compartment resource
 * (about 180 probes for a Synthea patient): 1.8 → 1.2 ms a page (docs/BENCHMARKS.md). Only
 * compartment rows: shared rows (patient_id '', every AuditEvent's among them) are never read by patient.
 */
export class Migration20261128000800_reference_by_patient extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE INDEX search_reference_patient ON search_reference (patient_id, target_type, target_id) WHERE patient_id <> '';`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP INDEX search_reference_patient;');
  }
}
