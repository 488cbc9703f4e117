import { Migration } from '@mikro-orm/migrations';

/**
 * Emergency alerts lifecycle and wellness. `emergency_alerts` (Flag) gains who acknowledged and
 * resolved an alert and when, and the response times the Flag implies (seconds from raised), so
 * that response-time figures are a query, not a recomputation. `stress_data` gets an index for a
 * patient's latest readings (the stress-intervention rule reads them on every stress reading).
 */
export class Migration20261127001400_alerts_wellness extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE emergency_alerts
  ADD COLUMN acknowledged_at timestamptz,
  ADD COLUMN acknowledged_by varchar(255),
  ADD COLUMN resolved_at timestamptz,
  ADD COLUMN resolved_by varchar(255),
  ADD COLUMN seconds_to_acknowledge numeric(12,3),
  ADD COLUMN seconds_to_resolve numeric(12,3);
CREATE INDEX emergency_alerts_created ON emergency_alerts (created_at);
CREATE INDEX stress_data_patient_time ON stress_data (patient_id, timestamp);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP INDEX IF EXISTS stress_data_patient_time;
DROP INDEX IF EXISTS emergency_alerts_created;
ALTER TABLE emergency_alerts DROP COLUMN IF EXISTS seconds_to_resolve, DROP COLUMN IF EXISTS seconds_to_acknowledge,
  DROP COLUMN IF EXISTS resolved_by, DROP COLUMN IF EXISTS resolved_at, DROP COLUMN IF EXISTS acknowledged_by, DROP COLUMN IF EXISTS acknowledged_at;
`);
  }
}
