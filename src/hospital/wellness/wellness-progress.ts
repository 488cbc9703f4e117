import type { Goal, GoalTarget } from '@medplum/fhirtypes';

/** One measured value of a goal's target measure. */
export interface Measurement {
  value: number;
  /** When it was measured (FHIR dateTime). */
  at: string;
  /** Its UCUM unit (Quantity.code, else .unit), when it has one. */
  unit?: string;
}

/**
 * Progress of a wellness plan (CarePlan) from its goals, version `wellness-progress/1`:
 * the mean of its goals' scores, rounded to 2 decimals; undefined when no goal counts.
 * A goal's score (0..1):
 * - not counted: lifecycleStatus cancelled, rejected or entered-in-error;
 * - 1: lifecycleStatus completed, or achievementStatus achieved or sustaining;
 * - measured: the mean over its targets that have a measure, a detailQuantity or detailRange and
 *   at least one Observation of that measure for the patient: with [lo, hi] the target range
 *   (detailRange; detailQuantity with comparator < or <= is (−∞, v], > or >= is [v, ∞), none is
 *   [v, v]) and d(x) the distance of x from it, the baseline b the first measurement on or after the
 *   goal's startDate (else the first) and l the latest: 1 if d(l) = 0, else 0 if d(b) ≤ d(l), else
 *   1 − d(l)/d(b) (the part of the way from the baseline to the target covered); measurements are
 *   first put in the target's unit (UCUM, the anomaly features' converter), and those whose unit
 *   cannot be converted are left out (the plan says which, in the wellness-progress-ignored extension);
 * - otherwise from achievementStatus: improving 0.5, anything else 0.
 */
export const PROGRESS_VERSION = 'wellness-progress/1';
/** Server-owned, on a wellness CarePlan beside its progress: the rule version (Device) that computed it (valueReference). */
export const WELLNESS_PROGRESS_MODEL_URL = 'https://fhir-ai-server.dev/StructureDefinition/wellness-progress-model';
/** Server-owned, on a wellness CarePlan: one per reading left out of its progress, saying which and why (valueString). */
export const WELLNESS_PROGRESS_IGNORED_URL = 'https://fhir-ai-server.dev/StructureDefinition/wellness-progress-ignored';
export const IMPROVING_SCORE = 0.5;

const NOT_COUNTED = new Set(['cancelled', 'rejected', 'entered-in-error']);

function achievement(goal: Goal): string | undefined {
  return goal.achievementStatus?.coding?.find((c) => c.system === 'http://terminology.hl7.org/CodeSystem/goal-achievement')?.code;
}

export function targetRange(t: GoalTarget): [number, number] | undefined {
  if (t.detailRange && (t.detailRange.low?.value !== undefined || t.detailRange.high?.value !== undefined)) {
    return [t.detailRange.low?.value ?? -Infinity, t.detailRange.high?.value ?? Infinity];
  }
  const v = t.detailQuantity?.value;
  if (v === undefined) return undefined;
  switch (t.detailQuantity?.comparator) {
    case '<':
    case '<=':
      return [-Infinity, v];
    case '>':
    case '>=':
      return [v, Infinity];
    default:
      return [v, v];
  }
}

/** The unit a target is stated in (detailQuantity's, else detailRange's; UCUM code, else unit text), if any. */
export function targetUnit(t: GoalTarget): string | undefined {
  const q = t.detailQuantity ?? t.detailRange?.low ?? t.detailRange?.high;
  return q?.code ?? q?.unit;
}

const distance = ([lo, hi]: [number, number], x: number) => (x < lo ? lo - x : x > hi ? x - hi : 0);

/** A target's score from its measurements (any order), or undefined when it cannot be measured. */
export function targetScore(range: [number, number], measurements: readonly Measurement[], startDate?: string): number | undefined {
  if (!measurements.length) return undefined;
  const sorted = [...measurements].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const since = startDate ? sorted.filter((m) => Date.parse(m.at) >= Date.parse(startDate)) : sorted;
  const baseline = (since.length ? since : sorted)[0];
  const latest = sorted[sorted.length - 1];
  const dl = distance(range, latest.value);
  if (dl === 0) return 1;
  const db = distance(range, baseline.value);
  return db <= dl ? 0 : 1 - dl / db;
}

/** A goal's score, or undefined when it does not count. `measurementsOf(target)` gives a target's measurements. */
export function goalScore(goal: Goal, measurementsOf: (t: GoalTarget) => readonly Measurement[], improvingScore = IMPROVING_SCORE): number | undefined {
  if (NOT_COUNTED.has(goal.lifecycleStatus)) return undefined;
  const a = achievement(goal);
  if (goal.lifecycleStatus === 'completed' || a === 'achieved' || a === 'sustaining') return 1;
  const scores = (goal.target ?? [])
    .map((t) => {
      const range = t.measure ? targetRange(t) : undefined;
      return range ? targetScore(range, measurementsOf(t), goal.startDate) : undefined;
    })
    .filter((s): s is number => s !== undefined);
  if (scores.length) return scores.reduce((x, y) => x + y, 0) / scores.length;
  return a === 'improving' ? improvingScore : 0;
}

/** The plan's progress: the mean of its counted goals' scores, 2 decimals; undefined without any. */
export function planProgress(goalScores: ReadonlyArray<number | undefined>): number | undefined {
  const counted = goalScores.filter((s): s is number => s !== undefined);
  if (!counted.length) return undefined;
  return Math.round((counted.reduce((x, y) => x + y, 0) / counted.length) * 100) / 100;
}

/** The plan's goals with a way to measure their targets. */
export interface PlanGoals {
  goals: readonly Goal[];
  measurementsOf: (t: GoalTarget) => readonly Measurement[];
}
