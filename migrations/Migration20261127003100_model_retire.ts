import { Migration } from '@mikro-orm/migrations';

/** The lifecycle's `retire` transition (a candidate or shadow version retired without ever being active). */
export class Migration20261127003100_model_retire extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE ai_model_transitions DROP CONSTRAINT ai_model_transitions_action_check;
ALTER TABLE ai_model_transitions ADD CONSTRAINT ai_model_transitions_action_check
  CHECK (action IN ('register', 'shadow', 'promote', 'rollback', 'retire', 'seed'));
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
ALTER TABLE ai_model_transitions DROP CONSTRAINT ai_model_transitions_action_check;
ALTER TABLE ai_model_transitions ADD CONSTRAINT ai_model_transitions_action_check
  CHECK (action IN ('register', 'shadow', 'promote', 'rollback', 'seed'));
`);
  }
}
