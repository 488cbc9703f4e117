import { Migration } from '@mikro-orm/migrations';
import { FHIR_STORE_TABLES } from './Migration20261127002200_fhir_store_audit_statements';

/** The audit functions of migration 002200 for a content column of the given type. */
const auditFunctions = (type: 'json' | 'jsonb') => `
CREATE FUNCTION fhir_store_set_columns(patient_owned boolean, deleted boolean, content ${type}, content_enc bytea, key_id smallint) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT array_remove(ARRAY[
    CASE WHEN content IS NOT NULL THEN 'content' END, CASE WHEN content_enc IS NOT NULL THEN 'content_enc' END,
    CASE WHEN deleted IS NOT NULL THEN 'deleted' END, 'id', CASE WHEN key_id IS NOT NULL THEN 'key_id' END, 'last_updated',
    CASE WHEN patient_owned THEN 'patient_id' END, 'resource_type', 'version_id'], NULL)
$fn$;
CREATE FUNCTION fhir_store_changed_columns(ov integer, nv integer, olu timestamptz, nlu timestamptz, od boolean, nd boolean,
                                           oc ${type}, nc ${type}, oe bytea, ne bytea, ok smallint, nk smallint) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT NULLIF(array_remove(ARRAY[
    CASE WHEN oc${type === 'json' ? '::text' : ''} IS DISTINCT FROM nc${type === 'json' ? '::text' : ''} THEN 'content' END, CASE WHEN oe IS DISTINCT FROM ne THEN 'content_enc' END,
    CASE WHEN od IS DISTINCT FROM nd THEN 'deleted' END, CASE WHEN ok IS DISTINCT FROM nk THEN 'key_id' END,
    CASE WHEN olu IS DISTINCT FROM nlu THEN 'last_updated' END, CASE WHEN ov IS DISTINCT FROM nv THEN 'version_id' END], NULL), '{}')
$fn$;`;

const dropAuditFunctions = (type: 'json' | 'jsonb') => `
DROP FUNCTION fhir_store_set_columns(boolean, boolean, ${type}, bytea, smallint);
DROP FUNCTION fhir_store_changed_columns(integer, integer, timestamptz, timestamptz, boolean, boolean, ${type}, ${type}, bytea, bytea, smallint, smallint);`;

/**
 * Plaintext resources are stored as `json` (their text, checked to be JSON) instead of `jsonb`.
 * Nothing searches the stored document itself: searches go through the search_* index tables,
 * and the few statements that look inside a document (`->>`, and the jsonpath of
 * shared-visibility.ts, cast to jsonb there) work on json too. What a jsonb column cost: every
 * write parsed the text into jsonb's binary form and every read printed it back (on the Synthea
 * fixtures about 12 µs to store and 6 µs to serve 1.4 kB, 0.45 ms of PostgreSQL for a 50-entry
 * `$everything` page); json keeps the text, so a read serves what the server wrote: its key order
 * (resourceType, id and meta first, so the integrity check stops after three keys instead of
 * skipping every shorter key that jsonb sorts ahead of resourceType) and no added spaces (6 % fewer
 * bytes). json has no equality operator: the audit trigger compares the content's text.
 *
 * The type change rewrites the four tables under an exclusive lock: on a large database, run
 * `npm run migrate` alone before starting the new version (README).
 */
export class Migration20261128000700_content_as_json extends Migration {
  override async up(): Promise<void> {
    this.addSql(dropAuditFunctions('jsonb'));
    for (const [table] of FHIR_STORE_TABLES) this.addSql(`ALTER TABLE ${table} ALTER COLUMN content TYPE json USING content::json;`);
    this.addSql(auditFunctions('json'));
  }

  override async down(): Promise<void> {
    this.addSql(dropAuditFunctions('json'));
    for (const [table] of FHIR_STORE_TABLES) this.addSql(`ALTER TABLE ${table} ALTER COLUMN content TYPE jsonb USING content::jsonb;`);
    this.addSql(auditFunctions('jsonb'));
  }
}
