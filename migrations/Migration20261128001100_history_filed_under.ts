import { Migration } from '@mikro-orm/migrations';
import { auditFhirStoreRowsFunction, auditRows, byOwner, OWN_EVENTS_SKIPPED, storeInsertRows } from './Migration20261127002200_fhir_store_audit_statements';

/** The INSERT branch for history tables, as migration 002600 wrote it (for down). */
const historyInsertRowsBefore = byOwner((p) =>
  auditRows(p, 'new_rows r', `fhir_store_history_set_columns(fhir_store_set_columns(${p}, r.deleted, r.content, r.content_enc, r.key_id), r.request_method, r.response_status)`, OWN_EVENTS_SKIPPED),
);

/** The INSERT branch for history tables: a moved row also sets moved and filed_patient_id. */
const historyInsertRows = byOwner((p) =>
  auditRows(
    p,
    'new_rows r',
    `fhir_store_moved_set_columns(fhir_store_history_set_columns(fhir_store_set_columns(${p}, r.deleted, r.content, r.content_enc, r.key_id), r.request_method, r.response_status), r.moved, r.filed_patient_id)`,
    OWN_EVENTS_SKIPPED,
  ),
);

/**
 * The patient each history version was filed under when it was written. A resource whose owner
 * changes takes its earlier versions along (history lives beside the current version, in the new
 * owner's shard), so a history row's patient_id names the current owner, and the new owner's
 * patient-context token would see versions that were another patient's. A carried-over row is
 * marked `moved` (true; NULL otherwise, so that ordinary rows set no more columns than before)
 * with `filed_patient_id` its owner when written (NULL: no patient). Rows moved before this
 * migration cannot be told apart and stay unmarked. The audit triggers list the two columns
 * when set, as audit_row_change would.
 */
export class Migration20261128001100_history_filed_under extends Migration {
  override async up(): Promise<void> {
    for (const table of ['fhir_resource_history', 'fhir_patient_resource_history']) {
      this.addSql(`ALTER TABLE ${table} ADD COLUMN moved boolean CHECK (moved), ADD COLUMN filed_patient_id fhir_id;`);
    }
    this.addSql(`
CREATE FUNCTION fhir_store_moved_set_columns(history_columns text[], moved boolean, filed_patient_id text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT array_agg(c ORDER BY c) FROM unnest(history_columns || ARRAY[
    CASE WHEN filed_patient_id IS NOT NULL THEN 'filed_patient_id' END,
    CASE WHEN moved IS NOT NULL THEN 'moved' END]) c
   WHERE c IS NOT NULL
$fn$;`);
    this.addSql(auditFhirStoreRowsFunction('CREATE OR REPLACE', `    IF history THEN\n${historyInsertRows}\n    ELSE\n${storeInsertRows}\n    END IF;`));
  }

  override async down(): Promise<void> {
    this.addSql(auditFhirStoreRowsFunction('CREATE OR REPLACE', `    IF history THEN\n${historyInsertRowsBefore}\n    ELSE\n${storeInsertRows}\n    END IF;`));
    this.addSql('DROP FUNCTION IF EXISTS fhir_store_moved_set_columns(text[], boolean, text);');
    for (const table of ['fhir_resource_history', 'fhir_patient_resource_history']) {
      this.addSql(`ALTER TABLE ${table} DROP COLUMN moved, DROP COLUMN filed_patient_id;`);
    }
  }
}
