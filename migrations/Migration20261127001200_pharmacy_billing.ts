import { Migration } from '@mikro-orm/migrations';

/**
 * Pharmacy and billing. `inventory` is the projection of Medication resources (one row per stocked
 * batch): it gains the drug's code (prescriptions and dispenses find their batches by it), the lot
 * number and the reorder threshold. `billing` (Claim) gains the first item's encounter and the
 * reasons the billing-error rules gave for `ai_error_detected`.
 */
export class Migration20261127001200_pharmacy_billing extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE inventory
  ADD COLUMN medication_code varchar(64),
  ADD COLUMN lot_number varchar(100),
  ADD COLUMN reorder_threshold integer;
CREATE INDEX inventory_medication_code ON inventory (medication_code);
CREATE INDEX inventory_reorder_alert ON inventory (id) WHERE reorder_alert;

ALTER TABLE billing
  ADD COLUMN encounter_id fhir_id,
  ADD COLUMN ai_error_reasons jsonb;
CREATE INDEX billing_flagged ON billing (patient_id, id) WHERE ai_error_detected;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP INDEX IF EXISTS billing_flagged;
ALTER TABLE billing DROP COLUMN IF EXISTS ai_error_reasons, DROP COLUMN IF EXISTS encounter_id;
DROP INDEX IF EXISTS inventory_reorder_alert;
DROP INDEX IF EXISTS inventory_medication_code;
ALTER TABLE inventory DROP COLUMN IF EXISTS reorder_threshold, DROP COLUMN IF EXISTS lot_number, DROP COLUMN IF EXISTS medication_code;
`);
  }
}
