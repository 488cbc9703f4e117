import type { Annotation, Task } from '@medplum/fhirtypes';
import { canonicalJson } from '../fhir/canonical-json';
import { DECISION_NOTE_PREFIX, isCopy, isRecommendation } from './recommendation-view';

/** Where a recommendation is decided: named in every refusal. */
export const APPROVAL_API = 'POST /api/recommendations/{id}/approve or /reject (clinicians of the patient)';

/** Statuses of a recommendation that is decided or withdrawn: no longer awaiting a clinician. */
const CLOSED = new Set<Task['status']>(['accepted', 'rejected', 'completed', 'cancelled', 'failed', 'entered-in-error']);

/**
 * Who writes a recommendation Task: the AI worker (raises it, or cancels it when a newer
 * prediction supersedes it), the recommendation service deciding it (the status it was allowed to
 * set), or anyone else (a client over FHIR REST or a Bundle, a pull from another server).
 */
export type RecommendationWriter = { kind: 'ai' } | { kind: 'decision'; status: 'accepted' | 'rejected' } | { kind: 'other' };

/**
 * Why this write of a recommendation Task (urn:fhir-ai-server:ai-task#recommendation) is refused,
 * or undefined when it may go ahead. `previous` is the current version (undefined for a create),
 * `next` the version to store (undefined for a delete). Pure.
 *
 * - The AI raises recommendations `requested` and may only cancel one still requested (superseded):
 *   it never accepts, rejects or completes one, and never deletes one.
 * - A decision moves one requested recommendation to the status the service was asked for.
 * - Anyone else may not raise a pending recommendation (a clinician would approve what the AI never
 *   proposed), turn another Task into one or one into another Task, delete one, or change anything
 *   of one but its notes: notes may be added at the end (a comment changes no decision), the notes
 *   already there stay as they are, and a new note may not read as a decision (the view takes the
 *   decision's reason from the last such note). A decided recommendation may be created only as the
 *   copy of a decision made elsewhere, with its origin in meta.source (this server's exchange push
 *   sends approved recommendations to the patient's home EHR, which may be another instance of this
 *   server; such copies are never pushed on, and the view says where they come from). A decided
 *   recommendation or a copy may be deleted; a pending one is decided first.
 */
export function recommendationWriteRefusal(previous: Task | undefined, next: Task | undefined, writer: RecommendationWriter): string | undefined {
  const was = isRecommendation(previous) ? previous : undefined;
  const is = isRecommendation(next) ? next : undefined;
  if (!was && !is) return undefined;
  const ref = `Task/${(next ?? previous)?.id ?? ''}`;

  if (writer.kind === 'ai') {
    if (!is) return `The AI does not delete or recode recommendations (${ref})`;
    if (!was) return is.status === 'requested' ? undefined : `The AI raises recommendations as requested, never ${is.status} (${ref}); a clinician decides them through ${APPROVAL_API}`;
    if (is.status === was.status || (was.status === 'requested' && is.status === 'cancelled')) return undefined;
    return `The AI never approves or rejects: it may only cancel a requested recommendation it supersedes, not make ${ref} ${is.status}; a clinician decides through ${APPROVAL_API}`;
  }

  if (writer.kind === 'decision') {
    if (!was || !is) return `${ref} is not a recommendation to decide`;
    if (was.status !== 'requested') return `${ref} is already decided (${was.status})`;
    return is.status === writer.status ? undefined : `The decision sets ${ref} ${writer.status}, not ${is.status}`;
  }

  const how = `a recommendation is decided only through ${APPROVAL_API}`;
  // Another system's recommendation recorded here (pulled from it, or pushed here by it) is its own
  // to change; a copy stays a copy (it cannot become one of this server's by losing its origin).
  if (was && isCopy(was)) return !is || isCopy(is) ? undefined : `${ref} is a copy of another system's recommendation (${was.meta?.source}) and keeps its origin in meta.source`;
  if (!was && !previous && is && isCopy(is)) return undefined;
  if (!is) {
    if (next) return `${ref} is an AI recommendation and cannot be recoded into another Task: ${how}`;
    // A decided one, or a copy from elsewhere, may go (a patient's record deleted, a pulled copy the remote deleted); a pending one is decided first.
    return was && CLOSED.has(was.status) ? undefined : `${ref} is a pending AI recommendation and cannot be deleted: decide it first (${APPROVAL_API}; a rejection gives the reason)`;
  }
  if (!was) {
    if (previous) return `${ref} cannot be turned into an AI recommendation: only the AI raises them, and ${how}`;
    if (!CLOSED.has(is.status)) return `Only the AI raises recommendations (${ref} would be a pending one, status ${is.status}); ${how}`;
    return `${ref}: a decided recommendation is recorded here only as the copy of a decision made elsewhere, naming its origin in meta.source; ${how}`;
  }
  const changed = changedElements(was, is);
  if (changed.length) return `${ref} is an AI recommendation: ${changed.join(', ')} cannot be changed over FHIR (only notes can be added); ${how}`;
  return notesRefusal(was.note ?? [], is.note ?? [], ref, how);
}

/** The elements that differ, the notes and the server's meta (and the AI's meta.source, which the write path drops) aside. */
function changedElements(was: Task, is: Task): string[] {
  const a = comparable(was);
  const b = comparable(is);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => canonicalJson(a[k] ?? null) !== canonicalJson(b[k] ?? null)).map((k) => `Task.${k}`);
}

function comparable(task: Task): Record<string, unknown> {
  const { note: _note, meta, ...rest } = task;
  const { versionId: _v, lastUpdated: _l, source: _s, ...kept } = meta ?? {};
  return { ...rest, ...(Object.keys(kept).length ? { meta: kept } : {}) };
}

function notesRefusal(was: Annotation[], is: Annotation[], ref: string, how: string): string | undefined {
  const kept = was.every((n, i) => i < is.length && canonicalJson(n) === canonicalJson(is[i]));
  if (!kept) return `${ref} is an AI recommendation: its notes can be added to, not changed or removed; ${how}`;
  const decisionLike = is.slice(was.length).find((n) => Object.values(DECISION_NOTE_PREFIX).some((p) => n.text?.trimStart().startsWith(p)));
  if (decisionLike) return `${ref}: a note beginning "${DECISION_NOTE_PREFIX.approved}" or "${DECISION_NOTE_PREFIX.rejected}" is the decision's own: ${how}`;
  return undefined;
}

