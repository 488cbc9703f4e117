import { Migration } from '@mikro-orm/migrations';

/**
 * The token and string search rows of the types in PACKED_INDEX_TYPES (src/fhir/search/index-tables.ts:
 * the server's own AuditEvents, one per request) packed into one row per resource, as parallel
 * arrays, instead of about eight rows in search_token and search_string with their value, resource
 * and trigram indexes. Two views give them back with the columns of those tables, so that the
 * search SQL is the same over either. Existing AuditEvent rows move here.
 */
export class Migration20261128000500_packed_search_rows extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE search_packed (
  patient_id text NOT NULL DEFAULT '',
  resource_type varchar(64) NOT NULL,
  resource_id fhir_id NOT NULL,
  token_codes text[], token_systems text[], token_values text[], token_texts text[],
  string_codes text[], string_values text[], string_exacts text[]
);
CREATE INDEX search_packed_res ON search_packed (resource_type, resource_id);

CREATE VIEW search_token_packed AS
SELECT p.patient_id, p.resource_type, p.resource_id, t.code::varchar(128) AS code, 0 AS grp, t.system,
       t.value COLLATE "C" AS value, t.text COLLATE "C" AS text, NULL::bytea AS hash_system_value, NULL::bytea AS hash_value
FROM search_packed p CROSS JOIN LATERAL unnest(p.token_codes, p.token_systems, p.token_values, p.token_texts) AS t(code, system, value, text);

CREATE VIEW search_string_packed AS
SELECT p.patient_id, p.resource_type, p.resource_id, s.code::varchar(128) AS code, 0 AS grp,
       s.value COLLATE "C" AS value, s.exact, NULL::bytea AS hash
FROM search_packed p CROSS JOIN LATERAL unnest(p.string_codes, p.string_values, p.string_exacts) AS s(code, value, exact);

INSERT INTO search_packed (patient_id, resource_type, resource_id, token_codes, token_systems, token_values, token_texts, string_codes, string_values, string_exacts)
SELECT r.patient_id, r.resource_type, r.resource_id,
       t.codes, t.systems, t.vals, t.texts, s.codes, s.vals, s.exacts
FROM (SELECT DISTINCT patient_id, resource_type, resource_id FROM search_token WHERE resource_type = 'AuditEvent'
      UNION SELECT DISTINCT patient_id, resource_type, resource_id FROM search_string WHERE resource_type = 'AuditEvent') r
-- Each array in one order with every column as a tie-breaker, so that the n-th elements belong to one row.
LEFT JOIN LATERAL (SELECT array_agg(code ORDER BY code, value, system, text) AS codes, array_agg(system ORDER BY code, value, system, text) AS systems,
                          array_agg(value ORDER BY code, value, system, text) AS vals, array_agg(text ORDER BY code, value, system, text) AS texts
                   FROM search_token x WHERE x.resource_type = r.resource_type AND x.resource_id = r.resource_id) t ON true
LEFT JOIN LATERAL (SELECT array_agg(code ORDER BY code, value, exact) AS codes, array_agg(value ORDER BY code, value, exact) AS vals,
                          array_agg(exact ORDER BY code, value, exact) AS exacts
                   FROM search_string x WHERE x.resource_type = r.resource_type AND x.resource_id = r.resource_id) s ON true;
DELETE FROM search_token WHERE resource_type = 'AuditEvent';
DELETE FROM search_string WHERE resource_type = 'AuditEvent';
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
INSERT INTO search_token (patient_id, resource_type, resource_id, code, grp, system, value, text)
SELECT patient_id, resource_type, resource_id, code, grp, system, value, text FROM search_token_packed;
INSERT INTO search_string (patient_id, resource_type, resource_id, code, grp, value, exact)
SELECT patient_id, resource_type, resource_id, code, grp, value, exact FROM search_string_packed;
DROP VIEW search_token_packed;
DROP VIEW search_string_packed;
DROP TABLE search_packed;
`);
  }
}
