import type { Task } from '@medplum/fhirtypes';
import { badRequest } from '../fhir/operation-outcome';
import { DECISION_NOTE_PREFIX } from './recommendation-view';

export type Decision = 'approve' | 'reject';

export const MAX_REASON_LENGTH = 2000;

/**
 * The reason of a decision from the request body `{"reason": "..."}`: required to reject (a
 * rejection without a reason teaches nothing), optional to approve. Pure; throws 400.
 */
export function decisionReason(decision: Decision, body: unknown): string | undefined {
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw badRequest('The body must be a JSON object such as {"reason": "..."}');
  }
  const fields = (body ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => k !== 'reason');
  if (unknown.length) throw badRequest(`Unknown field(s) ${unknown.join(', ')}: the body takes only "reason"`, unknown);
  const reason = fields.reason;
  if (reason === undefined || reason === null) {
    if (decision === 'reject') throw badRequest('A rejection needs a reason: send {"reason": "..."}', ['reason']);
    return undefined;
  }
  if (typeof reason !== 'string') throw badRequest('reason must be a string', ['reason']);
  const text = reason.trim();
  if (!text) throw badRequest(decision === 'reject' ? 'A rejection needs a reason: "reason" is empty' : 'reason is empty: leave it out or say why', ['reason']);
  if (text.length > MAX_REASON_LENGTH) throw badRequest(`reason is longer than ${MAX_REASON_LENGTH} characters`, ['reason']);
  return text;
}

/**
 * The Task once a clinician has decided: accepted or rejected (with statusReason), owned by the
 * clinician's Practitioner, lastModified now, and the decision noted (so the reason stays with the
 * resource and its history). Pure.
 */
export function decidedTask(task: Task, decision: Decision, practitionerId: string | undefined, reason: string | undefined, now: Date): Task {
  const { meta: _meta, ...rest } = task;
  const status = decision === 'approve' ? 'accepted' : 'rejected';
  const prefix = DECISION_NOTE_PREFIX[decision === 'approve' ? 'approved' : 'rejected'];
  const practitioner = practitionerId ? { reference: `Practitioner/${practitionerId}` } : undefined;
  const at = now.toISOString();
  const decided: Task = {
    ...rest,
    ...(task.meta ? { meta: withoutServerMeta(task.meta) } : {}),
    status,
    ...(practitioner ? { owner: practitioner } : {}),
    lastModified: at,
    note: [...(task.note ?? []), { ...(practitioner ? { authorReference: practitioner } : {}), time: at, text: reason ? `${prefix}: ${reason}` : prefix }],
  };
  if (decision === 'reject') decided.statusReason = { text: reason };
  else delete decided.statusReason;
  return decided;
}

function withoutServerMeta(meta: NonNullable<Task['meta']>): Task['meta'] {
  const { versionId: _v, lastUpdated: _l, ...rest } = meta;
  return rest;
}
