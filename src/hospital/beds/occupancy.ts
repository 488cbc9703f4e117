/** One stay the patient was in a bed for, [start, end) in epoch ms (null: open). */
export interface OccupiedStay {
  bed: string;
  start: number | null;
  end: number | null;
}

export interface BedInfo {
  id: string;
  /** The ward (Location partOf) id, or null. */
  ward: string | null;
}

export type OccupancyInterval = 'hour' | 'day' | 'week';

export const INTERVAL_MS: Record<OccupancyInterval, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };

/** The key of a bed's ward in the counts: `Location/<ward>`, or `unassigned`. */
export const wardKey = (ward: string | null): string => (ward ? `Location/${ward}` : 'unassigned');

export interface OccupancyBucket {
  start: string;
  end: string;
  /** Beds occupied at some moment of the bucket. */
  occupied: number;
  /** The same per ward. */
  wards: Record<string, number>;
}

/** Consecutive buckets of `interval` from `from` until `to` (the last may be cut short at `to`). */
export function bucketsOf(from: number, to: number, interval: OccupancyInterval): Array<{ start: number; end: number }> {
  const step = INTERVAL_MS[interval];
  const out: Array<{ start: number; end: number }> = [];
  for (let t = from; t < to; t += step) out.push({ start: t, end: Math.min(t + step, to) });
  return out;
}

/**
 * Occupancy per bucket: the number of beds occupied at some moment of it (a same-day admission and
 * discharge counts for that day, which a midnight census would miss), per ward and in total. A bed
 * counts once per bucket however many stays it had. Every ward with beds appears, with 0 if empty.
 */
export function occupancyCounts(stays: readonly OccupiedStay[], beds: readonly BedInfo[], buckets: ReadonlyArray<{ start: number; end: number }>): OccupancyBucket[] {
  const wardOf = new Map(beds.map((b) => [b.id, wardKey(b.ward)]));
  const wards = [...new Set(beds.map((b) => wardKey(b.ward)))].sort();
  return buckets.map(({ start, end }) => {
    const occupiedBeds = new Set<string>();
    for (const s of stays) {
      if (!wardOf.has(s.bed)) continue;
      if ((s.start === null || s.start < end) && (s.end === null || s.end > start)) occupiedBeds.add(s.bed);
    }
    const counts: Record<string, number> = Object.fromEntries(wards.map((w) => [w, 0]));
    for (const bed of occupiedBeds) counts[wardOf.get(bed)!]++;
    return { start: new Date(start).toISOString(), end: new Date(end).toISOString(), occupied: occupiedBeds.size, wards: counts };
  });
}
