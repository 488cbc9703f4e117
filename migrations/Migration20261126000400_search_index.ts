import { Migration } from '@mikro-orm/migrations';

/**
 * The search index: one table per search parameter type, rows derived from every current resource
 * by the R4 SearchParameter expressions (see src/fhir/search). Each row names its resource
 * (resource_type, resource_id), the parameter (code) and, for the parts of one composite value,
 * a shared group number (grp). patient_id ('' for resources outside any compartment) keeps rows on
 * their patient's shard. Derived data: rebuilt with each version, removed on delete, not audited.
 *
 * Values of encrypted resource types that are contact details or national identifiers keep no
 * plain text: only a keyed hash (HMAC, the blind index), which supports exact matches.
 * Text columns use the "C" collation so that b-tree indexes serve prefix (LIKE 'abc%') searches.
 * Value indexes INCLUDE resource_id, so that the ids matching a value come from the index alone.
 */
export class Migration20261126000400_search_index extends Migration {
  override async up(): Promise<void> {
    const base = `patient_id text NOT NULL DEFAULT '',
  resource_type varchar(64) NOT NULL,
  resource_id fhir_id NOT NULL,
  code varchar(128) NOT NULL,
  grp integer NOT NULL DEFAULT 0`;
    this.addSql(`
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE search_token DROP CONSTRAINT search_token_pkey;
ALTER TABLE search_token ALTER COLUMN code TYPE varchar(128);
ALTER TABLE search_token ALTER COLUMN value TYPE text COLLATE "C";
ALTER TABLE search_token ALTER COLUMN hash_system_value DROP NOT NULL;
ALTER TABLE search_token ALTER COLUMN hash_value DROP NOT NULL;
ALTER TABLE search_token ADD COLUMN grp integer NOT NULL DEFAULT 0;
ALTER TABLE search_token ADD COLUMN text text COLLATE "C";  -- display / CodeableConcept.text, normalised (:text)
UPDATE search_token SET value = NULL WHERE resource_type IN ('Patient', 'RelatedPerson', 'Person', 'DocumentReference', 'DiagnosticReport', 'Composition');
DROP INDEX search_token_sv, search_token_v;  -- only secret rows carry hashes now
CREATE INDEX search_token_hsv ON search_token (resource_type, code, hash_system_value) WHERE hash_system_value IS NOT NULL;
CREATE INDEX search_token_hv ON search_token (resource_type, code, hash_value) WHERE hash_value IS NOT NULL;
CREATE INDEX search_token_res ON search_token (resource_type, resource_id, code);
CREATE INDEX search_token_value ON search_token (resource_type, code, value) INCLUDE (system, resource_id);

CREATE TABLE search_string (
  ${base},
  value text COLLATE "C",        -- normalised: lower case, no accents, single spaces
  exact text,                    -- as written (:exact)
  hash bytea                     -- HMAC of the normalised value, instead of value/exact for secret fields
);
CREATE INDEX search_string_res ON search_string (resource_type, resource_id, code);
CREATE INDEX search_string_value ON search_string (resource_type, code, value) INCLUDE (resource_id);
CREATE INDEX search_string_hash ON search_string (resource_type, code, hash) WHERE hash IS NOT NULL;
CREATE INDEX search_string_trgm ON search_string USING gin (value gin_trgm_ops);

CREATE TABLE search_date (
  ${base},
  low timestamptz NOT NULL,      -- the instants the value covers at its precision: [low, high)
  high timestamptz NOT NULL
);
CREATE INDEX search_date_res ON search_date (resource_type, resource_id, code);
CREATE INDEX search_date_low ON search_date (resource_type, code, low) INCLUDE (high, resource_id);
CREATE INDEX search_date_high ON search_date (resource_type, code, high) INCLUDE (low, resource_id);

CREATE TABLE search_number (
  ${base},
  low numeric NOT NULL,          -- a single value has low = high; a Range its bounds
  high numeric NOT NULL
);
CREATE INDEX search_number_res ON search_number (resource_type, resource_id, code);
CREATE INDEX search_number_low ON search_number (resource_type, code, low) INCLUDE (high, resource_id);

CREATE TABLE search_quantity (
  ${base},
  system text,
  unit text,                     -- the unit code (or the unit text when there is no code)
  low numeric NOT NULL,
  high numeric NOT NULL
);
CREATE INDEX search_quantity_res ON search_quantity (resource_type, resource_id, code);
CREATE INDEX search_quantity_low ON search_quantity (resource_type, code, low) INCLUDE (high, system, unit, resource_id);

CREATE TABLE search_reference (
  ${base},
  target_type varchar(64),       -- a local reference Type/id
  target_id text,
  url text                       -- anything else: absolute URLs, canonicals, urn:uuid
);
CREATE INDEX search_reference_res ON search_reference (resource_type, resource_id, code);
CREATE INDEX search_reference_target ON search_reference (target_id, target_type, resource_type, code) INCLUDE (resource_id);
CREATE INDEX search_reference_url ON search_reference (url, resource_type, code) WHERE url IS NOT NULL;

CREATE TABLE search_uri (
  ${base},
  value text COLLATE "C" NOT NULL
);
CREATE INDEX search_uri_res ON search_uri (resource_type, resource_id, code);
CREATE INDEX search_uri_value ON search_uri (resource_type, code, value) INCLUDE (resource_id);
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS search_string, search_date, search_number, search_quantity, search_reference, search_uri;');
  }
}
