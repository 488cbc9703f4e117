import { Migration } from '@mikro-orm/migrations';

/**
 * TRUNCATE fires no row or statement trigger for INSERT/UPDATE/DELETE, so it went past the audit:
 * `TRUNCATE audit_log` emptied the log, and `TRUNCATE <store table> CASCADE` removed records with no
 * trace. Now audit_log refuses TRUNCATE as it refuses UPDATE and DELETE, and every audited table
 * (those with an audit_row_change or audit_fhir_store_rows trigger, found in the catalogue, so
 * none is missed) records a TRUNCATE in audit_log (actor, request id, table, operation TRUNCATE;
 * row_key `{}`: every row) before it runs, also when reached through CASCADE. A TRUNCATE rolled
 * back takes its audit row with it, as any other change does.
 */
export class Migration20261127002900_audit_truncate extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: TRUNCATE is refused';
END
$fn$;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate();

CREATE FUNCTION audit_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO audit_log (actor, request_id, table_name, operation, row_key, changed_columns)
  VALUES (COALESCE(NULLIF(current_setting('app.actor', true), ''), 'db:' || session_user),
          NULLIF(current_setting('app.request_id', true), ''),
          TG_TABLE_NAME, 'TRUNCATE', '{}'::jsonb, NULL);
  RETURN NULL;
END
$fn$;

DO $do$
DECLARE t regclass;
BEGIN
  FOR t IN
    SELECT DISTINCT tg.tgrelid::regclass FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid
    WHERE NOT tg.tgisinternal AND p.proname IN ('audit_row_change', 'audit_fhir_store_rows')
  LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate()',
                   replace(t::text, '"', '') || '_audit_truncate', t);
  END LOOP;
END
$do$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DO $do$
DECLARE r record;
BEGIN
  FOR r IN SELECT tg.tgname, tg.tgrelid::regclass AS rel FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid WHERE p.proname = 'audit_truncate'
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.rel);
  END LOOP;
END
$do$;
DROP FUNCTION audit_truncate();
DROP TRIGGER audit_log_no_truncate ON audit_log;
DROP FUNCTION audit_log_no_truncate();
`);
  }
}
