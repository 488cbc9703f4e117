import { Migration } from '@mikro-orm/migrations';

/**
 * Two-way exchange with external FHIR servers. A connection (also an Endpoint resource, same id)
 * holds the remote's base URL and how to authenticate; its secret (bearer token or OAuth2 client
 * secret) is encrypted with pgcrypto like the resources. Pull: one row per sync run, a resumable
 * cursor per connection and resource type, and the remote id of everything pulled (so a rerun
 * changes nothing that did not change remotely). Push: one row per resource version sent to a
 * connection (unique, so nothing is sent twice), which becomes the dead-letter list when its last
 * attempt fails. Failures keep the OperationOutcome that explains them.
 */
export class Migration20261127001500_exchange extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE exchange_connections (
  id varchar(64) PRIMARY KEY,                   -- the Endpoint's id
  name varchar(200) NOT NULL UNIQUE,
  base_url text NOT NULL,
  auth_type varchar(20) NOT NULL CHECK (auth_type IN ('none', 'bearer', 'client_credentials')),
  token_url text,
  client_id text,
  scope text,
  secret_enc bytea,                              -- bearer token or client secret (pgp_sym_encrypt)
  key_id smallint,
  resource_types text[],                         -- what a pull fetches; NULL: what the remote can search
  sync_interval_seconds integer CHECK (sync_interval_seconds IS NULL OR sync_interval_seconds >= 60),
  status varchar(10) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'off')),
  last_check_at timestamptz,
  last_check_ok boolean,
  last_check jsonb,                              -- what the remote's CapabilityStatement said, or the failure
  last_sync_at timestamptz,                      -- when the last finished sync started
  last_sync_status varchar(12),
  resources_in bigint NOT NULL DEFAULT 0,
  resources_out bigint NOT NULL DEFAULT 0,
  failures bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((auth_type = 'none') = (secret_enc IS NULL)),
  CHECK (auth_type <> 'client_credentials' OR (token_url IS NOT NULL AND client_id IS NOT NULL))
);
CREATE TRIGGER exchange_connections_audit AFTER INSERT OR UPDATE OR DELETE ON exchange_connections
  FOR EACH ROW EXECUTE FUNCTION audit_row_change('id');

CREATE TABLE exchange_sync_runs (
  id bigserial PRIMARY KEY,
  connection_id varchar(64) NOT NULL REFERENCES exchange_connections (id) ON DELETE CASCADE,
  trigger varchar(10) NOT NULL CHECK (trigger IN ('manual', 'schedule')),
  status varchar(12) NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  enqueued_at timestamptz,                       -- handed to the exchange-sync queue by a worker
  started_at timestamptz,
  finished_at timestamptz,
  resources_in integer NOT NULL DEFAULT 0,       -- created or changed here
  unchanged integer NOT NULL DEFAULT 0,          -- fetched again, equal to what was stored
  failed integer NOT NULL DEFAULT 0,
  error text
);
-- At most one run of a connection queued or running at a time.
CREATE UNIQUE INDEX exchange_sync_runs_one_open ON exchange_sync_runs (connection_id) WHERE status IN ('queued', 'running');
CREATE INDEX exchange_sync_runs_connection ON exchange_sync_runs (connection_id, id DESC);
CREATE INDEX exchange_sync_runs_to_enqueue ON exchange_sync_runs (id) WHERE status = 'queued' AND enqueued_at IS NULL;

-- Where a pull of one resource type stands: everything up to high_water is stored; next_url is the
-- remote's next page of the run in progress (resume there after a crash).
CREATE TABLE exchange_sync_cursors (
  connection_id varchar(64) NOT NULL REFERENCES exchange_connections (id) ON DELETE CASCADE,
  resource_type varchar(64) NOT NULL,
  high_water timestamptz,
  next_url text,
  run_id bigint REFERENCES exchange_sync_runs (id) ON DELETE SET NULL,
  PRIMARY KEY (connection_id, resource_type)
);

-- Every remote resource pulled, and the local resource it became.
CREATE TABLE exchange_remote_resources (
  connection_id varchar(64) NOT NULL REFERENCES exchange_connections (id) ON DELETE CASCADE,
  resource_type varchar(64) NOT NULL,
  remote_id varchar(64) NOT NULL,
  local_id varchar(64) NOT NULL,
  remote_version_id text,
  remote_last_updated timestamptz,
  content_sha256 bytea,                          -- of the remote resource as received, to see it unchanged
  synced_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (connection_id, resource_type, remote_id),
  UNIQUE (connection_id, resource_type, local_id)
);

-- Every resource version to be sent to a connection; status 'dead' rows are the dead-letter list.
CREATE TABLE exchange_push (
  id bigserial PRIMARY KEY,
  connection_id varchar(64) NOT NULL REFERENCES exchange_connections (id) ON DELETE CASCADE,
  resource_type varchar(64) NOT NULL,
  resource_id varchar(64) NOT NULL,
  version_id integer NOT NULL,
  patient_id varchar(64),
  status varchar(8) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  last_error jsonb,                              -- OperationOutcome of the last failure
  remote_locations text[],                       -- where the remote stored what was sent
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  UNIQUE (connection_id, resource_type, resource_id, version_id)
);
CREATE INDEX exchange_push_dead ON exchange_push (connection_id, id) WHERE status = 'dead';
CREATE TRIGGER exchange_push_audit AFTER INSERT OR UPDATE OR DELETE ON exchange_push
  FOR EACH ROW EXECUTE FUNCTION audit_row_change('id');

CREATE TABLE exchange_failures (
  id bigserial PRIMARY KEY,
  connection_id varchar(64) NOT NULL REFERENCES exchange_connections (id) ON DELETE CASCADE,
  direction varchar(5) NOT NULL CHECK (direction IN ('check', 'pull', 'push')),
  at timestamptz NOT NULL DEFAULT now(),
  run_id bigint REFERENCES exchange_sync_runs (id) ON DELETE SET NULL,
  push_id bigint REFERENCES exchange_push (id) ON DELETE SET NULL,
  resource text,                                 -- Type/id (remote id for a pull, ours for a push)
  outcome jsonb NOT NULL                         -- OperationOutcome
);
CREATE INDEX exchange_failures_connection ON exchange_failures (connection_id, id DESC);
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS exchange_failures, exchange_push, exchange_remote_resources, exchange_sync_cursors, exchange_sync_runs, exchange_connections;');
  }
}
