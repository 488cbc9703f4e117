import { Migration } from '@mikro-orm/migrations';

/**
 * Token search index (identifier for now): what conditional create/update/delete and conditional
 * references in bundles match on. Derived from the resources, so it has no audit trigger.
 * Values are matched through keyed hashes (HMAC), so identifiers of encrypted resources (a
 * Patient's SSN, MRN) are searchable without being stored in clear; `value` keeps the plain text
 * only for resources that are not encrypted.
 */
export class Migration20261126000200_search_tokens extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE search_token (
  patient_id text NOT NULL DEFAULT '',   -- shard key; '' for resources outside any patient compartment
  resource_type varchar(64) NOT NULL,
  resource_id fhir_id NOT NULL,
  code varchar(64) NOT NULL,             -- search parameter code, e.g. identifier
  system text,
  value text,                            -- NULL for encrypted resource types
  hash_system_value bytea NOT NULL,      -- HMAC(system|value)
  hash_value bytea NOT NULL,             -- HMAC(|value): matches a value in any system
  PRIMARY KEY (patient_id, resource_type, resource_id, code, hash_system_value)
);
CREATE INDEX search_token_sv ON search_token (resource_type, code, hash_system_value);
CREATE INDEX search_token_v ON search_token (resource_type, code, hash_value);
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS search_token;');
  }
}
