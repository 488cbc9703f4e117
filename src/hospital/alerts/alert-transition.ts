import type { Flag } from '@medplum/fhirtypes';
import { alertState, type AlertState } from '../../fhir/projection/mappers/alert-state';

/**
 * Why a write of an alert Flag would be an illegal lifecycle transition (undefined: legal), given
 * the current version. Raised → acknowledged → resolved, or raised → resolved; a decision once made
 * is not changed (no second or different acknowledgement, no reopening, no re-resolution), except
 * that any alert may be marked entered-in-error. Pure, so every writer (API, FHIR REST, bundles,
 * workers) gets the same answer from the write rule.
 */
export function illegalTransition(previous: Flag, next: Flag): string | undefined {
  if (next.status === 'entered-in-error') return undefined;
  const before = alertState(previous);
  const after = alertState(next);
  const id = `Flag/${previous.id}`;
  if (before.status === 'resolved') {
    if (after.status !== 'resolved') return `${id} was resolved${when(before.resolved?.at)}: a resolved alert cannot be reopened; raise a new alert`;
    if (!same(before.resolved, after.resolved) || !same(before.acknowledged, after.acknowledged)) {
      return `${id} was already resolved${by(before)}${when(before.resolved?.at)}: its decisions cannot be changed`;
    }
    return undefined;
  }
  if (before.acknowledged && !same(before.acknowledged, after.acknowledged)) {
    return `${id} was already acknowledged by ${before.acknowledged.by?.reference ?? before.acknowledged.by?.display ?? 'someone'}${when(before.acknowledged.at)}: an acknowledgement cannot be changed or withdrawn`;
  }
  return undefined;
}

/** The decision timestamps of a Flag in order (raised ≤ acknowledged ≤ resolved), else why not. */
export function inconsistentTimes(flag: Flag): string | undefined {
  const s: AlertState = alertState(flag);
  const t = (v: string | undefined) => (v ? Date.parse(v) : undefined);
  const raised = t(s.raisedAt);
  const ack = t(s.acknowledged?.at);
  const res = t(s.resolved?.at);
  if (s.acknowledged && (!s.acknowledged.at || !s.acknowledged.by)) return 'An acknowledgement needs who (by) and when (at)';
  if (raised !== undefined && ack !== undefined && ack < raised) return 'The alert cannot be acknowledged before it was raised (period.start)';
  if (ack !== undefined && res !== undefined && res < ack) return 'The alert cannot be resolved before it was acknowledged';
  return undefined;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function when(at: string | undefined): string {
  return at ? ` at ${at}` : '';
}

function by(s: AlertState): string {
  const who = s.resolved?.by?.reference ?? s.resolved?.by?.display;
  return who ? ` by ${who}` : '';
}
