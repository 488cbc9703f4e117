import { Migration } from '@mikro-orm/migrations';

/**
 * The audit log follows the patient, as every patient-owned table does: each row carries the
 * patient_id of the row it describes ('' for shared tables), so that under Citus an audit
 * trigger firing on a shard writes to the same shard (co-located, local), and a patient's trail
 * is read from one node. The trigger also names the logical table, not the shard (a shard's
 * trigger sees `encounters_102008`).
 */
export class Migration20261127000900_citus_ready extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE audit_log ADD COLUMN patient_id text NOT NULL DEFAULT '';
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE audit_log ADD PRIMARY KEY (patient_id, id);
CREATE INDEX audit_log_id ON audit_log (id);

CREATE OR REPLACE FUNCTION audit_row_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  src jsonb;
  key jsonb := '{}'::jsonb;
  changed text[];
  k text;
  logical text := regexp_replace(TG_TABLE_NAME, '_[0-9]+$', '');
BEGIN
  IF TG_OP = 'DELETE' THEN src := to_jsonb(OLD); ELSE src := to_jsonb(NEW); END IF;
  FOREACH k IN ARRAY TG_ARGV LOOP
    key := key || jsonb_build_object(k, src -> k);
  END LOOP;
  IF TG_OP = 'UPDATE' THEN
    SELECT array_agg(n.key ORDER BY n.key) INTO changed
      FROM jsonb_each(src) n JOIN jsonb_each(to_jsonb(OLD)) o ON o.key = n.key
     WHERE n.value IS DISTINCT FROM o.value;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT array_agg(e.key ORDER BY e.key) INTO changed FROM jsonb_each(src) e WHERE e.value <> 'null'::jsonb;
  END IF;
  INSERT INTO audit_log (patient_id, actor, request_id, table_name, operation, row_key, changed_columns)
  VALUES (COALESCE(src ->> 'patient_id', CASE WHEN logical = 'patients' THEN src ->> 'id' END, ''),
          COALESCE(NULLIF(current_setting('app.actor', true), ''), 'db:' || session_user),
          NULLIF(current_setting('app.request_id', true), ''),
          logical, TG_OP, key, changed);
  RETURN NULL;
END
$fn$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
CREATE OR REPLACE FUNCTION audit_row_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  src jsonb;
  key jsonb := '{}'::jsonb;
  changed text[];
  k text;
BEGIN
  IF TG_OP = 'DELETE' THEN src := to_jsonb(OLD); ELSE src := to_jsonb(NEW); END IF;
  FOREACH k IN ARRAY TG_ARGV LOOP
    key := key || jsonb_build_object(k, src -> k);
  END LOOP;
  IF TG_OP = 'UPDATE' THEN
    SELECT array_agg(n.key ORDER BY n.key) INTO changed
      FROM jsonb_each(src) n JOIN jsonb_each(to_jsonb(OLD)) o ON o.key = n.key
     WHERE n.value IS DISTINCT FROM o.value;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT array_agg(e.key ORDER BY e.key) INTO changed FROM jsonb_each(src) e WHERE e.value <> 'null'::jsonb;
  END IF;
  INSERT INTO audit_log (actor, request_id, table_name, operation, row_key, changed_columns)
  VALUES (COALESCE(NULLIF(current_setting('app.actor', true), ''), 'db:' || session_user),
          NULLIF(current_setting('app.request_id', true), ''),
          TG_TABLE_NAME, TG_OP, key, changed);
  RETURN NULL;
END
$fn$;
DROP INDEX audit_log_id;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE audit_log ADD PRIMARY KEY (id);
ALTER TABLE audit_log DROP COLUMN patient_id;
`);
  }
}
