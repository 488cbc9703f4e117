import { Migration } from '@mikro-orm/migrations';

/**
 * Bulk Data $export: one row per export (who asked, what, its state), and its output files in
 * parts of bounded size, encrypted with pgcrypto like the resources they copy. Kept in PostgreSQL
 * so that any API process answers status and file requests. Files belong to one attempt of the
 * job, so a job that runs again replaces its output rather than adding to it.
 */
export class Migration20261127000800_bulk_export extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE bulk_exports (
  id uuid PRIMARY KEY,
  client_id varchar(128) NOT NULL,
  level varchar(8) NOT NULL CHECK (level IN ('system', 'patient', 'group')),
  request_url text NOT NULL,
  params jsonb NOT NULL,            -- types, since, patients (Patient and Group level), group id
  deidentified boolean NOT NULL,
  status varchar(12) NOT NULL DEFAULT 'accepted'
    CHECK (status IN ('accepted', 'in-progress', 'completed', 'failed', 'cancelled')),
  transaction_time timestamptz NOT NULL,
  enqueued_at timestamptz,          -- handed to the bulk-export queue by a worker
  attempt integer NOT NULL DEFAULT 0,
  exported integer NOT NULL DEFAULT 0,
  current_type varchar(64),
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  expires_at timestamptz
);
CREATE INDEX bulk_exports_to_enqueue ON bulk_exports (created_at) WHERE status = 'accepted' AND enqueued_at IS NULL;
CREATE INDEX bulk_exports_expires ON bulk_exports (expires_at) WHERE expires_at IS NOT NULL;
CREATE TRIGGER bulk_exports_audit AFTER INSERT OR UPDATE OR DELETE ON bulk_exports
  FOR EACH ROW EXECUTE FUNCTION audit_row_change('id');

CREATE TABLE bulk_export_files (
  export_id uuid NOT NULL REFERENCES bulk_exports (id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  seq integer NOT NULL,
  kind varchar(6) NOT NULL CHECK (kind IN ('output', 'error')),
  resource_type varchar(64) NOT NULL,
  count integer NOT NULL,
  bytes integer NOT NULL,
  content_enc bytea NOT NULL,
  key_id smallint NOT NULL,
  PRIMARY KEY (export_id, attempt, seq)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS bulk_export_files; DROP TABLE IF EXISTS bulk_exports;');
  }
}
