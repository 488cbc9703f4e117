import type { Encounter, EncounterLocation } from '@medplum/fhirtypes';

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
 */
export interface BedStay {
  location: string;
  status: string | null;
  start: string | null;
  end: string | null;
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

function stayOf(location: string, loc: EncounterLocation, encounter: Encounter): BedStay {
  const encounterStatus = encounter.status;
  const status = loc.status ?? null;
  const start = instant(loc.period?.start) ?? instant(encounter.period?.start);
  let end = instant(loc.period?.end);
  // A stay that is over without an end of its own ends with the encounter.
  const over = encounterStatus === 'finished' || status === 'completed';
  if (!end && over) end = instant(encounter.period?.end);
  const dead = DEAD.has(encounterStatus);
  const allocating = !dead && encounterStatus !== 'finished' && (status === null || HOLDING.has(status));
  // An encounter that is over with no end anywhere cannot say when the bed was left: not counted.
  const occupying = !dead && encounterStatus !== 'planned' && (status === null || PRESENT.has(status)) && !(over && !end);
  return { location, status, start, end, allocating, occupying };
}

/** A FHIR dateTime as a UTC ISO instant (partial dates take their first instant), or null. */
export function instant(value: string | undefined): string | null {
  if (!value) return null;
  const t = new Date(value.length === 4 ? `${value}-01-01T00:00:00Z` : value.length === 7 ? `${value}-01T00:00:00Z` : value.length === 10 ? `${value}T00:00:00Z` : value);
  return Number.isNaN(t.getTime()) ? null : t.toISOString();
}

/** Whether two half-open periods [start, end) overlap (null: unbounded). Back to back does not. */
export function overlaps(a: { start: string | null; end: string | null }, b: { start: string | null; end: string | null }): boolean {
  const aStart = a.start ? Date.parse(a.start) : -Infinity;
  const aEnd = a.end ? Date.parse(a.end) : Infinity;
  const bStart = b.start ? Date.parse(b.start) : -Infinity;
  const bEnd = b.end ? Date.parse(b.end) : Infinity;
  return aStart < bEnd && bStart < aEnd;
}
