import type { Tx } from '../../database/database.service';

export type TransitionAction = 'register' | 'shadow' | 'promote' | 'rollback' | 'retire' | 'seed';

/** Appends one lifecycle transition (the table is append-only). */
export async function recordTransition(
  tx: Tx,
  t: { modelId: string; action: TransitionAction; from: string | null; to: string; other?: string | null; actor: string; reason?: string | null },
): Promise<void> {
  await tx.query(`INSERT INTO ai_model_transitions (model_id, action, from_status, to_status, other_model_id, actor, reason) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
    t.modelId,
    t.action,
    t.from,
    t.to,
    t.other ?? null,
    t.actor,
    t.reason ?? null,
  ]);
}

/**
 * Serialises lifecycle changes of one task and condition (promote, rollback, the workers' seeding)
 * for the rest of the transaction, so that two at once queue up instead of racing; the unique
 * partial index ai_models_one_active stays the last word on "one active version".
 */
export async function lockTask(tx: Tx, task: string, condition: string | null): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 17))', [`ai_models:${task}|${condition ?? ''}`]);
}
