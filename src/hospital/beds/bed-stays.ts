import type { Encounter, EncounterLocation } from '@medplum/fhirtypes';
import { dateRange } from '../../fhir/search/search-values';

/**
 * An Encounter.location element as the beds module reads it (kept in `encounters.locations`).
 * `start`/`end` are UTC ISO instants or null (open). The flags carry the rules, so that SQL and
 * TypeScript share one definition:
 * - `allocating`: the bed is held for the patient over [start, end): location status active,
 *   planned or reserved (or none given) in an Encounter that is not finished, cancelled or entered
 *   in error. Two allocating stays of one bed, or two of one patient in beds, may not overlap.
 * - `occupying`: the patient is (or was) in the bed over [start, end): location status active or
 *   completed (or none given) in an Encounter that is not planned, cancelled or entered in error.
 *   This is what occupancy counts, over time and now (`beds.occupied`).
 * A stay that allocates or occupies holds the bed over [start, end): the one-patient-per-bed and
 * one-bed-per-patient rules apply to both (bed-allocation.rule.ts). An end of date precision
 * (`2026-11-26`) includes that whole day: the stay ends at the start of the next (R4 Period.end).
 */
export interface BedStay {
  location: string;
  status: string | null;
  start: string | null;
  end: string | null;
  /** The day, when the start or end was given as a date (not a time): stays meeting on that day are back to back (a same-day turnover). */
  startDay?: string;
  endDay?: string;
  allocating: boolean;
  occupying: boolean;
}

const LOCATION_REF = /^Location\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const DEAD = new Set(['cancelled', 'entered-in-error']);
const HOLDING = new Set(['active', 'planned', 'reserved']);
const PRESENT = new Set(['active', 'completed']);

/** The stays of every local Location the encounter names (whether each is a bed is the beds table's to say). */
export function bedStays(encounter: Encounter): BedStay[] {
  const stays: BedStay[] = [];
  for (const loc of encounter.location ?? []) {
    const m = loc.location?.reference ? LOCATION_REF.exec(loc.location.reference) : null;
    if (!m) continue;
    stays.push(stayOf(m[1], loc, encounter));
  }
  return stays;
}

/** Whether the stay is over: the patient has left (location completed) or the encounter is finished. */
function isOver(loc: EncounterLocation, encounter: Encounter): boolean {
  return encounter.status === 'finished' || loc.status === 'completed';
}

function stayOf(location: string, loc: EncounterLocation, encounter: Encounter): BedStay {
  const encounterStatus = encounter.status;
  const status = loc.status ?? null;
  const startValue = instant(loc.period?.start) ? loc.period?.start : encounter.period?.start;
  const start = instant(startValue);
  let endValue = loc.period?.end;
  let end = endInstant(endValue);
  // A stay that is over without an end of its own ends with the encounter.
  const over = isOver(loc, encounter);
  if (!end && over) {
    endValue = encounter.period?.end;
    end = endInstant(endValue);
  }
  const dead = DEAD.has(encounterStatus);
  const allocating = !dead && encounterStatus !== 'finished' && (status === null || HOLDING.has(status));
  // An encounter that is over with no end anywhere cannot say when the bed was left: not counted. The
  // allocation rule records the discharge as the end of such stays (withDischargeEnds), so only
  // versions stored before it did lack one.
  const occupying = !dead && encounterStatus !== 'planned' && (status === null || PRESENT.has(status)) && !(over && !end);
  const day = (v: string | undefined) => (v && /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : undefined);
  const startDay = start ? day(startValue) : undefined;
  const endDay = end ? day(endValue) : undefined;
  return { location, status, start, end, ...(startDay ? { startDay } : {}), ...(endDay ? { endDay } : {}), allocating, occupying };
}

/** The Locations of stays that are over (location completed, encounter finished) with no end anywhere. */
export function unendedStays(encounter: Encounter): string[] {
  if (DEAD.has(encounter.status)) return [];
  const found: string[] = [];
  for (const loc of encounter.location ?? []) {
    const m = loc.location?.reference ? LOCATION_REF.exec(loc.location.reference) : null;
    if (m && isOver(loc, encounter) && !stayOf(m[1], loc, encounter).end) found.push(m[1]);
  }
  return found;
}

/**
 * The encounter with an end recorded on each bed stay that is over (the location completed or the
 * encounter finished) but has no end of its own or the encounter's, since R4 does not require
 * period.end: the end the previous version recorded for that stay (else, for a version stored without
 * one, its lastUpdated), or else `at` (the discharge, i.e. the time of this write), never after the
 * start of the encounter's next stay (a transfer) nor before the stay's own start. Unchanged (the
 * same object) when there is nothing to record.
 */
export function withDischargeEnds(encounter: Encounter, previous: Encounter | undefined, at: string, beds: ReadonlySet<string>): Encounter {
  if (DEAD.has(encounter.status)) return encounter;
  const locations = encounter.location ?? [];
  const stays = locations.map((loc) => {
    const m = loc.location?.reference ? LOCATION_REF.exec(loc.location.reference) : null;
    return m ? stayOf(m[1], loc, encounter) : undefined;
  });
  const before = previous ? previousEnds(previous) : new Map<string, string>();
  let changed = false;
  const amended = locations.map((loc, i) => {
    const stay = stays[i];
    if (!stay || !beds.has(stay.location) || !isOver(loc, encounter) || stay.end) return loc;
    const startMs = stay.start ? Date.parse(stay.start) : -Infinity;
    const next = stays
      .filter((s, j) => s && j !== i && beds.has(s.location) && s.start && Date.parse(s.start) > startMs)
      .map((s) => Date.parse(s!.start!))
      .reduce((a, b) => Math.min(a, b), Infinity);
    const end = before.get(`${stay.location}|${stay.start}`) ?? new Date(Math.max(Math.min(Date.parse(at), next), startMs)).toISOString();
    changed = true;
    return { ...loc, period: { ...loc.period, end } };
  });
  return changed ? { ...encounter, location: amended } : encounter;
}

/** The ends of the previous version's stays that were over, by bed and start (its lastUpdated for those stored without). */
function previousEnds(previous: Encounter): Map<string, string> {
  const ends = new Map<string, string>();
  for (const loc of previous.location ?? []) {
    const m = loc.location?.reference ? LOCATION_REF.exec(loc.location.reference) : null;
    if (!m || !isOver(loc, previous)) continue;
    const stay = stayOf(m[1], loc, previous);
    const end = stay.end ?? instant(previous.meta?.lastUpdated);
    if (end) ends.set(`${stay.location}|${stay.start}`, end);
  }
  return ends;
}

/** A FHIR dateTime as a UTC ISO instant (partial dates take their first instant), or null. */
export function instant(value: string | undefined): string | null {
  if (!value) return null;
  const t = new Date(value.length === 4 ? `${value}-01-01T00:00:00Z` : value.length === 7 ? `${value}-01T00:00:00Z` : value.length === 10 ? `${value}T00:00:00Z` : value);
  return Number.isNaN(t.getTime()) ? null : t.toISOString();
}

/**
 * The instant a FHIR date or dateTime ends a period at: a dateTime is its instant; a date, year-month
 * or year includes the whole of it (the next day's, month's or year's first instant). Null when absent
 * or not a date.
 */
export function endInstant(value: string | undefined): string | null {
  if (!value) return null;
  if (value.includes('T')) return instant(value);
  const range = dateRange(value);
  return range ? new Date(range.high).toISOString() : null;
}

/** A stay's period: instants (null: open), and the days of those given as dates. */
export type StayPeriod = Pick<BedStay, 'start' | 'end' | 'startDay' | 'endDay'>;

/** Whether two half-open periods [start, end) overlap (null: unbounded). Back to back does not. */
export function overlaps(a: StayPeriod, b: StayPeriod): boolean {
  // Given as dates, one ending on the day the other starts: back to back, not both in the bed all that day.
  if ((a.endDay && a.endDay === b.startDay) || (b.endDay && b.endDay === a.startDay)) return false;
  const aStart = a.start ? Date.parse(a.start) : -Infinity;
  const aEnd = a.end ? Date.parse(a.end) : Infinity;
  const bStart = b.start ? Date.parse(b.start) : -Infinity;
  const bEnd = b.end ? Date.parse(b.end) : Infinity;
  return aStart < bEnd && bStart < aEnd;
}
