import { Migration } from '@mikro-orm/migrations';
import { auditFhirStoreRowsFunction, auditRows, byOwner, OWN_EVENTS_SKIPPED, storeInsertRows } from './Migration20261127002200_fhir_store_audit_statements';

/** The INSERT branch for history tables: their rows also set request_method and response_status (migration 002500). */
const historyInsertRows = byOwner((p) =>
  auditRows(
    p,
    'new_rows r',
    `fhir_store_history_set_columns(fhir_store_set_columns(${p}, r.deleted, r.content, r.content_enc, r.key_id), r.request_method, r.response_status)`,
    OWN_EVENTS_SKIPPED,
  ),
);

/**
 * The audit_log row of a history insert lists every column the row sets, as audit_row_change
 * would: since migration 002500 that includes the request's method and the response status, which
 * the statement trigger of migration 002200 did not know of.
 */
export class Migration20261127002600_history_audit_columns extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
-- A history row's set columns: the store's, plus the request it records, sorted as audit_row_change sorts them.
CREATE FUNCTION fhir_store_history_set_columns(store_columns text[], request_method varchar, response_status smallint) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT array_agg(c ORDER BY c) FROM unnest(store_columns || ARRAY[
    CASE WHEN request_method IS NOT NULL THEN 'request_method' END,
    CASE WHEN response_status IS NOT NULL THEN 'response_status' END]) c
   WHERE c IS NOT NULL
$fn$;`);
    this.addSql(auditFhirStoreRowsFunction('CREATE OR REPLACE', `    IF history THEN\n${historyInsertRows}\n    ELSE\n${storeInsertRows}\n    END IF;`));
  }

  override async down(): Promise<void> {
    this.addSql(auditFhirStoreRowsFunction('CREATE OR REPLACE', storeInsertRows));
    this.addSql('DROP FUNCTION IF EXISTS fhir_store_history_set_columns(text[], varchar, smallint);');
  }
}
