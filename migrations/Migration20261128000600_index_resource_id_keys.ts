import { Migration } from '@mikro-orm/migrations';

/**
 * The resource id as a key column (it was INCLUDEd) of the token value index and of the reference
 * target index, after the columns a search matches by equality. A search probes them once per
 * candidate resource (`Observation?patient=x&code=y`: for each of x's Observations, is there a code
 * row y?); with the id in the key each probe is one exact lookup. With it only INCLUDEd, a probe read
 * every row of the value, of every resource, and PostgreSQL chose that plan whenever it took the
 * value for a rare one (a generic plan, a table without statistics): 2.2 ms instead of 0.43 ms per
 * search on the Synthea fixtures (docs/BENCHMARKS.md). Built before the old one is dropped.
 */
export class Migration20261128000600_index_resource_id_keys extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE INDEX search_token_value_by_resource ON search_token (resource_type, code, value, resource_id) INCLUDE (system);
DROP INDEX search_token_value;
ALTER INDEX search_token_value_by_resource RENAME TO search_token_value;
CREATE INDEX search_reference_target_by_resource ON search_reference (target_id, target_type, resource_type, code, resource_id);
DROP INDEX search_reference_target;
ALTER INDEX search_reference_target_by_resource RENAME TO search_reference_target;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
CREATE INDEX search_token_value_included ON search_token (resource_type, code, value) INCLUDE (system, resource_id);
DROP INDEX search_token_value;
ALTER INDEX search_token_value_included RENAME TO search_token_value;
CREATE INDEX search_reference_target_included ON search_reference (target_id, target_type, resource_type, code) INCLUDE (resource_id);
DROP INDEX search_reference_target;
ALTER INDEX search_reference_target_included RENAME TO search_reference_target;
`);
  }
}
