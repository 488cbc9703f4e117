import { Migration } from '@mikro-orm/migrations';

/**
 * The foundation schema: the seed's 21 tables (ids widened to FHIR ids, patient_id in every
 * patient-owned primary key), the FHIR resource store, the audit log and the outbox.
 *
 * Layout rules (see docs/ARCHITECTURE.md):
 * - Every id is a FHIR id (`fhir_id` domain): server-assigned ids are UUIDs, client-chosen ids may be
 *   any legal FHIR id ([A-Za-z0-9.-]{1,64}).
 * - Patient-owned tables have PRIMARY KEY (patient_id, id) so they can be distributed on patient_id;
 *   foreign keys between them carry patient_id too.
 * - Encrypted columns are bytea holding pgcrypto PGP messages; the key never reaches the database
 *   except as a bind parameter of the statement that uses it.
 */
export class Migration20261126000100_foundation extends Migration {
  override async up(): Promise<void> {
    this.addSql(SQL_UP);
  }

  override async down(): Promise<void> {
    this.addSql(SQL_DOWN);
  }
}

const PRIMARY_TABLES: Array<[string, string[]]> = [
  ['patients', ['id']],
  ['doctors', ['id']],
  ['appointments', ['patient_id', 'id']],
  ['beds', ['id']],
  ['resources', ['id']],
  ['ehr_records', ['patient_id', 'id']],
  ['monitoring_data', ['patient_id', 'id']],
  ['diagnoses', ['patient_id', 'id']],
  ['recommendations', ['patient_id', 'id']],
  ['ai_models', ['id']],
  ['billing', ['patient_id', 'id']],
  ['feedback', ['patient_id', 'id']],
  ['triage', ['patient_id', 'id']],
  ['icu_monitoring', ['patient_id', 'id']],
  ['emergency_alerts', ['patient_id', 'id']],
  ['therapy_sessions', ['patient_id', 'id']],
  ['stress_data', ['patient_id', 'id']],
  ['wellness_plans', ['patient_id', 'id']],
  ['prescriptions', ['patient_id', 'id']],
  ['inventory', ['id']],
  ['adherence_tracking', ['patient_id', 'id']],
  ['encounters', ['patient_id', 'id']],
  ['patient_national_ids', ['national_id_hash']],
  ['fhir_resource', ['resource_type', 'id']],
  ['fhir_resource_history', ['resource_type', 'id', 'version_id']],
  ['fhir_patient_resource', ['patient_id', 'resource_type', 'id']],
  ['fhir_patient_resource_history', ['patient_id', 'resource_type', 'id', 'version_id']],
  ['auth_clients', ['client_id']],
  ['auth_signing_keys', ['kid']],
];

const auditTriggers = PRIMARY_TABLES.map(
  ([table, key]) =>
    `CREATE TRIGGER ${table}_audit AFTER INSERT OR UPDATE OR DELETE ON ${table}
       FOR EACH ROW EXECUTE FUNCTION audit_row_change(${key.map((k) => `'${k}'`).join(', ')});`,
).join('\n');

const SQL_UP = `
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- A legal FHIR id (R4 id datatype). UUIDs fit; so does any id a client may choose.
CREATE DOMAIN fhir_id AS varchar(64) CHECK (VALUE ~ '^[A-Za-z0-9.-]{1,64}$');

-- ───────────── FHIR resource store: the unit of truth ─────────────
-- Current version of resources that belong to no patient (reference tables under Citus).
CREATE TABLE fhir_resource (
  resource_type varchar(64) NOT NULL,
  id fhir_id NOT NULL,
  version_id integer NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  content jsonb,          -- plaintext resources
  content_enc bytea,      -- resources that hold sensitive data (pgcrypto)
  key_id smallint,        -- which encryption key made content_enc
  PRIMARY KEY (resource_type, id)
);
CREATE TABLE fhir_resource_history (LIKE fhir_resource INCLUDING DEFAULTS, PRIMARY KEY (resource_type, id, version_id));
CREATE INDEX fhir_resource_history_updated ON fhir_resource_history (last_updated);
CREATE INDEX fhir_resource_type_updated ON fhir_resource (resource_type, last_updated);

-- Current version of resources in a patient's compartment (distributed on patient_id under Citus).
CREATE TABLE fhir_patient_resource (
  patient_id fhir_id NOT NULL,
  resource_type varchar(64) NOT NULL,
  id fhir_id NOT NULL,
  version_id integer NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  content jsonb,
  content_enc bytea,
  key_id smallint,
  PRIMARY KEY (patient_id, resource_type, id)
);
CREATE INDEX fhir_patient_resource_lookup ON fhir_patient_resource (resource_type, id);
CREATE INDEX fhir_patient_resource_type_updated ON fhir_patient_resource (resource_type, last_updated);
CREATE TABLE fhir_patient_resource_history (LIKE fhir_patient_resource INCLUDING DEFAULTS,
  PRIMARY KEY (patient_id, resource_type, id, version_id));
CREATE INDEX fhir_patient_resource_history_lookup ON fhir_patient_resource_history (resource_type, id, version_id);
CREATE INDEX fhir_patient_resource_history_updated ON fhir_patient_resource_history (last_updated);

-- ───────────── the seed's tables (relational face of the resources) ─────────────
CREATE TABLE patients (
  id fhir_id PRIMARY KEY DEFAULT gen_random_uuid()::text,
  name varchar(255) NOT NULL,
  dob date,
  contact_info bytea,          -- encrypted jsonb: {telecom, address}
  national_id bytea,           -- encrypted national identifier value
  national_id_system varchar(255),
  national_id_hash bytea,      -- blind index: HMAC-SHA256(system|value), unique through patient_national_ids
  key_id smallint,
  version_id integer,
  last_updated timestamptz,
  created_at timestamp DEFAULT now(),
  updated_at timestamp DEFAULT now()
);
CREATE INDEX patients_national_id_hash ON patients (national_id_hash);

-- national_id uniqueness, keyed by the blind index (a unique constraint on a distributed table
-- must include the distribution column, so uniqueness lives in its own table).
CREATE TABLE patient_national_ids (
  national_id_hash bytea PRIMARY KEY,
  patient_id fhir_id NOT NULL
);

CREATE TABLE doctors (
  id fhir_id PRIMARY KEY DEFAULT gen_random_uuid()::text,
  name varchar(255) NOT NULL,
  specialty varchar(255),
  schedule jsonb,
  npi varchar(64),
  version_id integer,
  last_updated timestamptz,
  created_at timestamp DEFAULT now()
);

CREATE TABLE resources (
  id fhir_id PRIMARY KEY DEFAULT gen_random_uuid()::text,
  type varchar(100),
  availability jsonb,
  predictive_maintenance jsonb,
  version_id integer,
  last_updated timestamptz
);

CREATE TABLE ai_models (
  id fhir_id PRIMARY KEY DEFAULT gen_random_uuid()::text,
  name varchar(255),
  version varchar(50),
  accuracy decimal(3,2),
  last_trained timestamp,
  federated boolean DEFAULT true
);

CREATE TABLE inventory (
  id fhir_id PRIMARY KEY DEFAULT gen_random_uuid()::text,
  medication varchar(255),
  stock_level int,
  expiry_date date,
  reorder_alert boolean DEFAULT false,
  version_id integer,
  last_updated timestamptz
);

-- A bed is shared (a reference table under Citus); patient_id names its occupant and has no
-- foreign key because a reference table may not reference a distributed one.
CREATE TABLE beds (
  id fhir_id PRIMARY KEY DEFAULT gen_random_uuid()::text,
  room_number varchar(50),
  occupied boolean DEFAULT false,
  patient_id fhir_id,
  occupancy_prediction jsonb,
  resource_id fhir_id REFERENCES resources(id) DEFERRABLE INITIALLY DEFERRED,
  version_id integer,
  last_updated timestamptz
);

CREATE TABLE encounters (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  doctor_id fhir_id REFERENCES doctors(id) DEFERRABLE INITIALLY DEFERRED,
  status varchar(50),
  class_code varchar(50),
  type_text varchar(255),
  period_start timestamptz,
  period_end timestamptz,
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE appointments (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  doctor_id fhir_id REFERENCES doctors(id) DEFERRABLE INITIALLY DEFERRED,
  resource_id fhir_id REFERENCES resources(id) DEFERRABLE INITIALLY DEFERRED,
  date_time timestamp,
  status varchar(50),
  ai_conflict_resolved boolean DEFAULT false,
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

-- Hash-chained, encrypted clinical documents (the seed's "blockchain-linked" records).
CREATE TABLE ehr_records (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  seq bigint NOT NULL,
  record_type varchar(100),
  resource_id fhir_id,
  resource_version integer,
  data bytea,
  key_id smallint,
  previous_hash varchar(255),
  blockchain_hash varchar(255),
  created_at timestamp DEFAULT now(),
  PRIMARY KEY (patient_id, id),
  UNIQUE (patient_id, seq)
);

CREATE TABLE monitoring_data (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  device_type varchar(100),
  readings jsonb,
  timestamp timestamp DEFAULT now(),
  anomaly_alert boolean DEFAULT false,
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE diagnoses (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  doctor_id fhir_id REFERENCES doctors(id) DEFERRABLE INITIALLY DEFERRED,
  ai_supported boolean DEFAULT true,
  diagnosis_text text,
  code_system varchar(255),
  code varchar(64),
  confidence_score decimal(3,2),
  ai_model_id fhir_id REFERENCES ai_models(id) DEFERRABLE INITIALLY DEFERRED,
  created_at timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE recommendations (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  diagnosis_id fhir_id,
  recommendation text,
  ai_generated boolean DEFAULT true,
  approved_by_doctor boolean DEFAULT false,
  ai_model_id fhir_id REFERENCES ai_models(id) DEFERRABLE INITIALLY DEFERRED,
  doctor_id fhir_id REFERENCES doctors(id) DEFERRABLE INITIALLY DEFERRED,
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id),
  FOREIGN KEY (patient_id, diagnosis_id) REFERENCES diagnoses(patient_id, id) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE billing (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  amount decimal(10,2),
  status varchar(50),
  ai_error_detected boolean DEFAULT false,
  created_at timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE feedback (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  rating int,
  comments text,
  sentiment_score decimal(3,2),
  ai_model_id fhir_id REFERENCES ai_models(id) DEFERRABLE INITIALLY DEFERRED,
  created_at timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE triage (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  priority_score int,
  symptoms text,
  ai_predicted boolean DEFAULT true,
  ai_model_id fhir_id REFERENCES ai_models(id) DEFERRABLE INITIALLY DEFERRED,
  created_at timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE icu_monitoring (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  vital_signs jsonb,
  alerts jsonb,
  timestamp timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE emergency_alerts (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  alert_type varchar(100),
  response_status varchar(50),
  geolocation jsonb,
  created_at timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE therapy_sessions (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  session_data text,
  sentiment_analysis decimal(3,2),
  ai_response text,
  ai_model_id fhir_id REFERENCES ai_models(id) DEFERRABLE INITIALLY DEFERRED,
  created_at timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE stress_data (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  readings jsonb,
  intervention_suggested boolean DEFAULT false,
  timestamp timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE wellness_plans (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  plan_details text,
  ai_generated boolean DEFAULT true,
  progress decimal(3,2),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE prescriptions (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  medication varchar(255),
  medication_code varchar(64),
  dosage varchar(100),
  adherence_rate decimal(3,2),
  inventory_id fhir_id REFERENCES inventory(id) DEFERRABLE INITIALLY DEFERRED,
  doctor_id fhir_id REFERENCES doctors(id) DEFERRABLE INITIALLY DEFERRED,
  status varchar(50),
  created_at timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id)
);

CREATE TABLE adherence_tracking (
  patient_id fhir_id NOT NULL REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED,
  id fhir_id NOT NULL DEFAULT gen_random_uuid()::text,
  prescription_id fhir_id NOT NULL,
  taken boolean,
  timestamp timestamp DEFAULT now(),
  version_id integer,
  last_updated timestamptz,
  PRIMARY KEY (patient_id, id),
  FOREIGN KEY (patient_id, prescription_id) REFERENCES prescriptions(patient_id, id) DEFERRABLE INITIALLY DEFERRED
);

-- ───────────── authentication ─────────────
CREATE TABLE auth_clients (
  client_id varchar(128) PRIMARY KEY,
  secret_hash text NOT NULL,          -- scrypt, never the secret
  role varchar(32) NOT NULL,
  scopes text NOT NULL,
  patient_id fhir_id,
  practitioner_id fhir_id,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE TABLE auth_signing_keys (
  kid varchar(64) PRIMARY KEY,
  alg varchar(16) NOT NULL,
  public_jwk jsonb NOT NULL,
  private_jwk bytea NOT NULL,          -- encrypted with pgcrypto
  key_id smallint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

-- ───────────── outbox: events recorded in the write transaction, drained into BullMQ ─────────────
CREATE TABLE outbox_events (
  id bigserial PRIMARY KEY,
  resource_type varchar(64) NOT NULL,
  resource_id fhir_id NOT NULL,
  version_id integer NOT NULL,
  patient_id fhir_id,
  action varchar(16) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  dispatched_at timestamptz
);
CREATE INDEX outbox_events_pending ON outbox_events (id) WHERE dispatched_at IS NULL;

-- ───────────── audit ─────────────
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor text NOT NULL,
  request_id text,
  txid bigint NOT NULL DEFAULT txid_current(),
  table_name text NOT NULL,
  operation varchar(8) NOT NULL,
  row_key jsonb NOT NULL,
  changed_columns text[]
);
CREATE INDEX audit_log_row ON audit_log (table_name, row_key);
CREATE INDEX audit_log_at ON audit_log (at);

-- Who: the authenticated client the application names per transaction (set_config('app.actor',
-- ..., true)); a change made outside the application is attributed to the database role.
-- What: the table, the row's key, the operation and the names of the columns it set or changed.
-- Values are not copied, so encrypted columns stay encrypted and the log stays small.
CREATE FUNCTION audit_row_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
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

-- The audit log is append-only.
CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END
$fn$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();

${auditTriggers}
`;

const SQL_DOWN = `
DROP TABLE IF EXISTS audit_log, outbox_events, auth_signing_keys, auth_clients, adherence_tracking,
  prescriptions, wellness_plans, stress_data, therapy_sessions, emergency_alerts, icu_monitoring, triage,
  feedback, billing, recommendations, diagnoses, monitoring_data, ehr_records, appointments, encounters,
  beds, inventory, ai_models, resources, doctors, patient_national_ids, patients,
  fhir_patient_resource_history, fhir_patient_resource, fhir_resource_history, fhir_resource CASCADE;
DROP FUNCTION IF EXISTS audit_row_change(), audit_log_immutable();
DROP DOMAIN IF EXISTS fhir_id;
`;

export const AUDITED_TABLES = PRIMARY_TABLES.map(([t]) => t);
