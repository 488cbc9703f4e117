import type { Task } from '@medplum/fhirtypes';
import type { DatabaseService } from '../../database/database.service';
import type { ResourceStore } from '../../fhir/store/resource-store.repository';
import { RECOMMENDATION_CODE } from '../recommendation-rules';

/** A recommendation as read, with the version a supersession must still find (If-Match). */
export interface PendingRecommendation {
  task: Task & { id: string };
  versionId: number;
}

/**
 * Whether a Task is one of the AI's recommendations still awaiting a clinician: coded as a
 * recommendation and requested. Only the AI creates pending recommendation Tasks (the write rule
 * of src/recommendations/recommendation-task.rule.ts), so the code says whose it is; meta.source
 * does not (a clinician's note on the Task makes a version without it). Pure.
 */
export function isPendingAiRecommendation(task: Task): boolean {
  return task.status === 'requested' && !!task.code?.coding?.some((c) => c.system === RECOMMENDATION_CODE.system && c.code === RECOMMENDATION_CODE.code);
}

/**
 * The AI's pending recommendations about one resource (Task.focus), found through the search
 * index's focus references and read as stored: what a newer prediction on it supersedes.
 */
export class PendingRecommendations {
  constructor(
    private readonly db: DatabaseService,
    private readonly store: ResourceStore,
  ) {}

  async focusing(reference: string): Promise<PendingRecommendation[]> {
    const [type, id] = reference.split('/');
    const rows = await this.db.query<{ resource_id: string }>(
      `SELECT DISTINCT resource_id FROM search_reference WHERE target_id = ? AND target_type = ? AND resource_type = 'Task' AND code = 'focus'`,
      [id, type],
    );
    if (!rows.length) return [];
    const found = await this.store.readCurrentMany(rows.map((r) => ({ resourceType: 'Task', id: r.resource_id })));
    return [...found.values()]
      .filter((v) => v.json && !v.deleted)
      .map((v) => ({ task: JSON.parse(v.json as string) as Task & { id: string }, versionId: v.versionId }))
      .filter((p) => isPendingAiRecommendation(p.task))
      .sort((a, b) => a.task.id.localeCompare(b.task.id));
  }
}
