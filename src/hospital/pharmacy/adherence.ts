import type { Dosage, MedicationRequest, Timing } from '@medplum/fhirtypes';

/**
 * Adherence of a prescription, pure: taken doses / expected doses.
 *
 * Expected doses come from each `dosageInstruction[].timing`:
 * - the rate: `repeat.frequency` (else the number of `timeOfDay` or `when` entries, else 1) per
 *   `repeat.period` `repeat.periodUnit` (s, min, h, d, wk, mo = 30 d, a = 365 d); a `timeOfDay` or
 *   `when` without a period means per day; `timing.code` BID, TID, QID, QD, QOD, AM, PM, Q4H, Q6H, Q8H
 *   stand for their rates;
 * - the window: from `repeat.boundsPeriod.start` (else `dispenseRequest.validityPeriod.start`, else
 *   `authoredOn`) to `boundsPeriod.end` (a date-only end includes that day), else start +
 *   `boundsDuration`, else `validityPeriod.end`, and never after "now": doses not yet due are not
 *   expected;
 * - doses are due at the start and every period/frequency after it, so the count is
 *   ceil(window / interval), at most `repeat.count`.
 * Instructions without a usable timing (as needed, free text) expect nothing; when no instruction
 * expects anything (or nothing is due yet), the expected doses are the recorded events (taken or
 * missed), so the rate is the share of recorded doses taken. A prescription with no recorded
 * event has no rate (nobody tracks it; 0 would accuse the patient). Events at the same instant with
 * the same outcome are one dose recorded twice (or by two systems). The rate is capped at 1 (extra doses
 * do not make up for others) and rounded to two decimals, as `prescriptions.adherence_rate`
 * (decimal(3,2)) keeps it.
 */
export interface DoseEvent {
  taken: boolean;
  /** When the dose was given or missed (ms): events of one instant are one dose recorded twice. */
  at?: number;
}

const UNIT_MS: Record<string, number> = {
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  wk: 7 * 86_400_000,
  mo: 30 * 86_400_000,
  a: 365 * 86_400_000,
};

/** Rates of the HL7 GTS alias codes (per day). */
const CODE_PER_DAY: Record<string, number> = { QD: 1, AM: 1, PM: 1, BID: 2, TID: 3, QID: 4, QOD: 0.5, Q4H: 6, Q6H: 4, Q8H: 3 };

/** Milliseconds between two doses, or undefined when the timing gives no rate. */
export function doseInterval(timing: Timing | undefined): number | undefined {
  const r = timing?.repeat;
  if (r?.period !== undefined && r.period > 0 && r.periodUnit && UNIT_MS[r.periodUnit]) {
    const frequency = r.frequency ?? (r.timeOfDay?.length || r.when?.length || 1);
    return frequency > 0 ? (r.period * UNIT_MS[r.periodUnit]) / frequency : undefined;
  }
  const perDay = r?.timeOfDay?.length || r?.when?.length;
  if (perDay) return UNIT_MS.d / perDay;
  const code = timing?.code?.coding?.map((c) => c.code).find((c): c is string => !!c && c in CODE_PER_DAY);
  return code ? UNIT_MS.d / CODE_PER_DAY[code] : undefined;
}

/** The instant a FHIR date or dateTime starts, or (as an end) the instant after a date-only value's day. */
function instant(value: string | undefined, asEnd = false): number | undefined {
  if (!value) return undefined;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const t = Date.parse(dateOnly ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(t)) return undefined;
  return dateOnly && asEnd ? t + UNIT_MS.d : t;
}

/** Doses of one instruction due by `asOf`, or undefined when it has no schedule. */
export function dosesDue(mr: MedicationRequest, dosage: Dosage, asOf: Date): number | undefined {
  if (dosage.asNeededBoolean || dosage.asNeededCodeableConcept) return undefined;
  const interval = doseInterval(dosage.timing);
  if (interval === undefined) return undefined;
  const r = dosage.timing?.repeat;
  const validity = mr.dispenseRequest?.validityPeriod;
  const start = instant(r?.boundsPeriod?.start) ?? instant(validity?.start) ?? instant(mr.authoredOn);
  if (start === undefined) return undefined;
  const duration = r?.boundsDuration;
  const byDuration =
    duration?.value !== undefined && duration.code && UNIT_MS[duration.code] ? start + duration.value * UNIT_MS[duration.code] : undefined;
  const end = Math.min(instant(r?.boundsPeriod?.end, true) ?? byDuration ?? instant(validity?.end, true) ?? Infinity, asOf.getTime());
  if (end <= start) return 0;
  const due = Math.ceil((end - start) / interval - 1e-9);
  return r?.count !== undefined ? Math.min(due, r.count) : due;
}

/** The doses expected by `asOf` across the instructions, or undefined when none has a schedule. */
export function expectedDoses(mr: MedicationRequest, asOf: Date): number | undefined {
  const due = (mr.dosageInstruction ?? []).map((d) => dosesDue(mr, d, asOf)).filter((n): n is number => n !== undefined);
  return due.length ? due.reduce((a, b) => a + b, 0) : undefined;
}

/** taken / expected in [0, 1], two decimals; undefined until an event is recorded (adherence is not tracked). */
export function adherenceRate(mr: MedicationRequest, recorded: DoseEvent[], asOf: Date): number | undefined {
  if (!recorded.length) return undefined;
  const events = oneEventPerInstant(recorded);
  const taken = events.filter((e) => e.taken).length;
  let expected = expectedDoses(mr, asOf) ?? 0;
  if (expected === 0) expected = events.length;
  if (expected === 0) return undefined;
  return Math.round(Math.min(1, taken / expected) * 100) / 100;
}

/** Events of one instant and outcome as one; events without a time each count (nothing says they are one dose). */
function oneEventPerInstant(events: DoseEvent[]): DoseEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => {
    if (e.at === undefined || Number.isNaN(e.at)) return true;
    const key = `${e.at}|${e.taken}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
