import type { Encounter } from '@medplum/fhirtypes';
import { bedStays, overlaps } from './bed-stays';

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
      { location: 'b2', status: 'planned', start: '2030-01-05T00:00:00.000Z', end: '2030-01-06T00:00:00.000Z', allocating: true, occupying: false },
    ]);
  });

  it('releases the bed when the location is completed or the encounter finishes or is cancelled', () => {
    const completed = bedStays(enc({ location: [{ location: { reference: 'Location/b1' }, status: 'completed', period: { start: '2030-01-01', end: '2030-01-03' } }] }))[0];
    expect(completed).toMatchObject({ allocating: false, occupying: true, end: '2030-01-03T00:00:00.000Z' });
    const finished = bedStays(enc({ status: 'finished', period: { start: '2030-01-01', end: '2030-01-02' }, location: [{ location: { reference: 'Location/b1' }, status: 'active' }] }))[0];
    expect(finished).toMatchObject({ allocating: false, occupying: true, end: '2030-01-02T00:00:00.000Z' });
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
