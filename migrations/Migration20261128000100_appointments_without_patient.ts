import { Migration } from '@mikro-orm/migrations';

/**
 * Appointments with no local Patient participant (a staff meeting, an external patient, a Group)
 * hold their actors' time as much as any other (issue #9). `appointments` is patient-owned
 * (patient_id leads its primary key, so that it can be distributed by patient) and cannot take
 * them, so they get a shared table with the same relational face, without patient_id (a reference
 * table on Citus, like doctors and fhir_resource). The view `appointment_bookings` is every
 * appointment's booking (period, actors, status) from both, which the double-booking check and
 * the availability API read.
 */
export class Migration20261128000100_appointments_without_patient extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE appointments_without_patient (
  id fhir_id PRIMARY KEY,
  doctor_id fhir_id REFERENCES doctors(id) DEFERRABLE INITIALLY DEFERRED,
  date_time timestamp,
  status varchar(50),
  ai_conflict_resolved boolean DEFAULT false,
  start_at timestamptz,
  end_at timestamptz,
  actors text[],
  version_id integer,
  last_updated timestamptz
);
CREATE INDEX appointments_without_patient_actors ON appointments_without_patient USING gin (actors);
CREATE TRIGGER appointments_without_patient_audit AFTER INSERT OR UPDATE OR DELETE ON appointments_without_patient
  FOR EACH ROW EXECUTE FUNCTION audit_row_change('id');
CREATE TRIGGER appointments_without_patient_audit_truncate BEFORE TRUNCATE ON appointments_without_patient
  FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate();

CREATE VIEW appointment_bookings AS
  SELECT id, patient_id, status, start_at, end_at, actors FROM appointments
  UNION ALL
  SELECT id, NULL::fhir_id, status, start_at, end_at, actors FROM appointments_without_patient;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP VIEW IF EXISTS appointment_bookings;
DROP TABLE IF EXISTS appointments_without_patient;
`);
  }
}
