import { bucketsOf, occupancyCounts } from './occupancy';

const D = 86_400_000;
const T0 = Date.parse('2030-03-01T00:00:00Z');

describe('occupancyCounts', () => {
  const beds = [
    { id: 'b1', ward: 'w1' },
    { id: 'b2', ward: 'w1' },
    { id: 'b3', ward: null },
  ];

  it('counts beds occupied at some moment of each bucket, per ward and in total', () => {
    const stays = [
      { bed: 'b1', start: T0 + 0.5 * D, end: T0 + 2 * D }, // days 0 and 1; not day 2 (back to back)
      { bed: 'b1', start: T0 + 0.1 * D, end: T0 + 0.2 * D }, // same bed, same day: still one
      { bed: 'b2', start: T0 + 1.9 * D, end: null }, // from day 1 on
      { bed: 'b3', start: null, end: T0 + 0.5 * D }, // open start, day 0 only
      { bed: 'other', start: T0, end: null }, // not a bed: ignored
    ];
    const out = occupancyCounts(stays, beds, bucketsOf(T0, T0 + 3 * D, 'day'));
    expect(out.map((b) => b.occupied)).toEqual([2, 2, 1]);
    expect(out[0].wards).toEqual({ 'Location/w1': 1, unassigned: 1 });
    expect(out[1].wards).toEqual({ 'Location/w1': 2, unassigned: 0 });
    expect(out[2]).toEqual({ start: new Date(T0 + 2 * D).toISOString(), end: new Date(T0 + 3 * D).toISOString(), occupied: 1, wards: { 'Location/w1': 1, unassigned: 0 } });
  });

  it('cuts the last bucket at the end', () => {
    expect(bucketsOf(T0, T0 + 1.5 * D, 'day')).toEqual([
      { start: T0, end: T0 + D },
      { start: T0 + D, end: T0 + 1.5 * D },
    ]);
    expect(bucketsOf(T0, T0 + 7 * D, 'week')).toHaveLength(1);
  });
});
