import { Migration } from '@mikro-orm/migrations';

/**
 * One result per input version for per-patient tasks (triage): a job's active ai_predictions row
 * records the exact inputs of its result (`basis`: the model version and the input resources'
 * versions), and a job whose inputs are those of the patient's latest result by the same version
 * writes none. The latest is found under a per-patient advisory lock, so created_at becomes
 * clock_timestamp(): a row inserted after the lock was granted is later than every row of the
 * transaction that held it (now(), the transaction's start, is not).
 */
export class Migration20261127002700_ai_result_basis extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE ai_predictions ADD COLUMN basis text;');
    this.addSql('ALTER TABLE ai_predictions ALTER COLUMN created_at SET DEFAULT clock_timestamp();');
    this.addSql('CREATE INDEX ai_predictions_latest_basis ON ai_predictions (patient_id, model_id, created_at DESC) WHERE basis IS NOT NULL AND NOT shadow;');
  }

  override async down(): Promise<void> {
    this.addSql('DROP INDEX IF EXISTS ai_predictions_latest_basis;');
    this.addSql('ALTER TABLE ai_predictions ALTER COLUMN created_at SET DEFAULT now();');
    this.addSql('ALTER TABLE ai_predictions DROP COLUMN IF EXISTS basis;');
  }
}
