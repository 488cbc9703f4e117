import { Migration } from '@mikro-orm/migrations';

/**
 * The reference and date search rows of the types kept apart (src/fhir/search/index-tables.ts: the
 * server's own AuditEvents, one per request) in tables of their own, with the columns and indexes of
 * search_reference and search_date. Two references and a date per request soon outnumbered every
 * other type's rows there: they grew the indexes every clinical search reads and, between two
 * ANALYZEs, made the planner's estimates for those searches stale (docs/BENCHMARKS.md, session 17).
 * Existing AuditEvent rows move here. On a large database this rewrites both tables' AuditEvent
 * rows under a lock: run `npm run migrate` alone (README).
 */
export class Migration20261128000900_audit_index_rows_apart extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE search_reference_audit (LIKE search_reference INCLUDING DEFAULTS);
CREATE INDEX search_reference_audit_res ON search_reference_audit (resource_type, resource_id, code);
CREATE INDEX search_reference_audit_target ON search_reference_audit (target_id, target_type, resource_type, code, resource_id);
CREATE INDEX search_reference_audit_url ON search_reference_audit (url, resource_type, code) WHERE url IS NOT NULL;

CREATE TABLE search_date_audit (LIKE search_date INCLUDING DEFAULTS);
CREATE INDEX search_date_audit_res ON search_date_audit (resource_type, resource_id, code);
CREATE INDEX search_date_audit_low ON search_date_audit (resource_type, code, low) INCLUDE (high, resource_id);
CREATE INDEX search_date_audit_high ON search_date_audit (resource_type, code, high) INCLUDE (low, resource_id);

WITH moved AS (DELETE FROM search_reference WHERE resource_type = 'AuditEvent' RETURNING *)
INSERT INTO search_reference_audit SELECT * FROM moved;
WITH moved AS (DELETE FROM search_date WHERE resource_type = 'AuditEvent' RETURNING *)
INSERT INTO search_date_audit SELECT * FROM moved;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
INSERT INTO search_reference SELECT * FROM search_reference_audit;
INSERT INTO search_date SELECT * FROM search_date_audit;
DROP TABLE search_reference_audit;
DROP TABLE search_date_audit;
`);
  }
}
