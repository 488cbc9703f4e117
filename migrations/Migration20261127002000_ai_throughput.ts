import { Migration } from '@mikro-orm/migrations';

/**
 * What makes the AI pipeline cheaper per prediction without changing what it guarantees:
 * - outbox_events.actor: who made the change (the write transaction's actor, as the audit log
 *   names it). The fan-out passes over the AI worker's own writes without reading them: no AI
 *   plugin triggers on them. Null on events recorded before this column (read as before).
 * - one active (non-shadow) prediction per job: the AI job claims its job id by inserting its
 *   active record first (ON CONFLICT DO NOTHING), which replaces an advisory lock plus a search
 *   for an output carrying the job's identifier. A concurrent run of the same job waits on the
 *   key until the first commits (then writes nothing) or rolls back (then writes).
 */
export class Migration20261127002000_ai_throughput extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE outbox_events ADD COLUMN actor text;');
    this.addSql('CREATE UNIQUE INDEX ai_predictions_job_once ON ai_predictions (patient_id, job_id) WHERE NOT shadow;');
  }

  override async down(): Promise<void> {
    this.addSql('DROP INDEX IF EXISTS ai_predictions_job_once;');
    this.addSql('ALTER TABLE outbox_events DROP COLUMN IF EXISTS actor;');
  }
}
