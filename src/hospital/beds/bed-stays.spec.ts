import type { Encounter } from '@medplum/fhirtypes';
import { bedStays, endInstant, overlaps, withDischargeEnds } from './bed-stays';

const enc = (e: Partial<Encounter>): Encounter => ({ resourceType: 'Encounter', status: 'in-progress', class: { code: 'IMP' }, ...e }) as Encounter;

describe('bedStays', () => {
  it('reads local Location references with their status and period, falling back to the encounter period', () => {
    const stays = bedStays(
      enc({
        period: { start: '2030-01-01T10:00:00+01:00' },
        location: [
          { location: { reference: 'Location/b1' }, status: 'active' },
          { location: { reference: 'Location/b2/_history/3' }, status: 'planned', period: { start: '2030-01-05', end: '2030-01-06' } },
          { location: { reference: 'https://elsewhere/Location/x' } },
        ],
      }),
    );
    expect(stays).toEqual([
      { location: 'b1', status: 'active', start: '2030-01-01T09:00:00.000Z', end: null, allocating: true, occupying: true },
      // a date-only end includes its day (R4 Period.end): the stay ends when the next day starts
      { location: 'b2', status: 'planned', start: '2030-01-05T00:00:00.000Z', end: '2030-01-07T00:00:00.000Z', startDay: '2030-01-05', endDay: '2030-01-06', allocating: true, occupying: false },
    ]);
  });

  it('takes stays given by dates that meet on one day as back to back (a same-day turnover), not as overlapping', () => {
    const out = bedStays(enc({ status: 'finished', location: [{ location: { reference: 'Location/b1' }, status: 'completed', period: { start: '2030-01-01', end: '2030-01-03' } }] }))[0];
    const inSameDay = bedStays(enc({ location: [{ location: { reference: 'Location/b1' }, status: 'active', period: { start: '2030-01-03' } }] }))[0];
    expect(overlaps(out, inSameDay)).toBe(false);
    expect(overlaps(inSameDay, out)).toBe(false);
    // The same day given as a time is inside the discharge day: that is an overlap.
    const atNoon = bedStays(enc({ location: [{ location: { reference: 'Location/b1' }, status: 'active', period: { start: '2030-01-03T12:00:00Z' } }] }))[0];
    expect(overlaps(out, atNoon)).toBe(true);
  });

  it('releases the bed when the location is completed or the encounter finishes or is cancelled', () => {
    const completed = bedStays(enc({ location: [{ location: { reference: 'Location/b1' }, status: 'completed', period: { start: '2030-01-01', end: '2030-01-03' } }] }))[0];
    expect(completed).toMatchObject({ allocating: false, occupying: true, end: '2030-01-04T00:00:00.000Z' });
    const finished = bedStays(enc({ status: 'finished', period: { start: '2030-01-01', end: '2030-01-02' }, location: [{ location: { reference: 'Location/b1' }, status: 'active' }] }))[0];
    expect(finished).toMatchObject({ allocating: false, occupying: true, end: '2030-01-03T00:00:00.000Z' });
    const noEnd = bedStays(enc({ status: 'finished', location: [{ location: { reference: 'Location/b1' } }] }))[0];
    expect(noEnd).toMatchObject({ allocating: false, occupying: false });
    const cancelled = bedStays(enc({ status: 'cancelled', location: [{ location: { reference: 'Location/b1' }, status: 'active' }] }))[0];
    expect(cancelled).toMatchObject({ allocating: false, occupying: false });
  });

  it('treats periods as half-open', () => {
    const a = { start: '2030-01-01T00:00:00Z', end: '2030-01-02T00:00:00Z' };
    expect(overlaps(a, { start: '2030-01-02T00:00:00Z', end: null })).toBe(false);
    expect(overlaps(a, { start: null, end: '2030-01-01T00:00:01Z' })).toBe(true);
    expect(overlaps({ start: null, end: null }, a)).toBe(true);
  });
});

describe('endInstant', () => {
  it('ends a date, month or year with the whole of it, and a dateTime at its instant', () => {
    expect(endInstant('2026-11-26')).toBe('2026-11-27T00:00:00.000Z');
    expect(endInstant('2026-02')).toBe('2026-03-01T00:00:00.000Z');
    expect(endInstant('2026')).toBe('2027-01-01T00:00:00.000Z');
    expect(endInstant('2026-11-26T10:30:00+01:00')).toBe('2026-11-26T09:30:00.000Z');
    expect(endInstant(undefined)).toBeNull();
    expect(endInstant('soon')).toBeNull();
  });
});

describe('withDischargeEnds', () => {
  const beds = new Set(['b1', 'b2']);
  const at = '2030-01-10T12:00:00.000Z';

  it('ends a finished stay with no end anywhere at the discharge, so it still counts', () => {
    const e = enc({ status: 'finished', period: { start: '2030-01-01T08:00:00Z' }, location: [{ location: { reference: 'Location/b1' }, status: 'active' }] });
    const amended = withDischargeEnds(e, undefined, at, beds);
    expect(amended.location?.[0].period).toEqual({ end: at });
    expect(bedStays(amended)[0]).toMatchObject({ start: '2030-01-01T08:00:00.000Z', end: at, occupying: true });
  });

  it('keeps the end an earlier version recorded (never rewritten), else that version\'s lastUpdated', () => {
    const loc = [{ location: { reference: 'Location/b1' }, status: 'completed' as const, period: { start: '2030-01-01T08:00:00Z' } }];
    const stamped = enc({ location: [{ ...loc[0], period: { ...loc[0].period, end: '2030-01-05T00:00:00Z' } }] });
    expect(withDischargeEnds(enc({ location: loc }), stamped, at, beds).location?.[0].period?.end).toBe('2030-01-05T00:00:00.000Z');
    const legacy = enc({ meta: { lastUpdated: '2030-01-04T00:00:00.000Z' }, location: loc });
    expect(withDischargeEnds(enc({ location: loc }), legacy, at, beds).location?.[0].period?.end).toBe('2030-01-04T00:00:00.000Z');
  });

  it('ends a completed stay where the next bed stay of the encounter starts (a transfer), and leaves non-beds and ended stays alone', () => {
    const e = enc({
      location: [
        { location: { reference: 'Location/b1' }, status: 'completed', period: { start: '2030-01-01T08:00:00Z' } },
        { location: { reference: 'Location/b2' }, status: 'active', period: { start: '2030-01-03T08:00:00Z' } },
        { location: { reference: 'Location/room' }, status: 'completed', period: { start: '2030-01-01T08:00:00Z' } },
      ],
    });
    const amended = withDischargeEnds(e, undefined, at, beds);
    expect(amended.location?.map((l) => l.period?.end)).toEqual(['2030-01-03T08:00:00.000Z', undefined, undefined]);
    const ended = enc({ status: 'finished', period: { start: '2030-01-01', end: '2030-01-02' }, location: [{ location: { reference: 'Location/b1' } }] });
    expect(withDischargeEnds(ended, undefined, at, beds)).toBe(ended);
  });
});
