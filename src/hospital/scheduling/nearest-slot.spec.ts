import { nearestFreeSlot, type FreeSlot } from './nearest-slot';

const H = 3_600_000;
const M = 60_000;
const T0 = Date.parse('2030-01-07T09:00:00Z');
const slot = (id: string, startH: number, minutes = 60, schedule = 'S1'): FreeSlot => ({ id, schedule, start: T0 + startH * H, end: T0 + startH * H + minutes * M });

describe('nearestFreeSlot', () => {
  it('picks the free slot whose start is nearest the requested start, earlier on a tie', () => {
    const slots = [slot('a', -3), slot('b', -1), slot('c', 1), slot('d', 4)];
    expect(nearestFreeSlot({ start: T0, end: T0 + H }, slots, [])).toEqual({ start: T0 - H, end: T0, slotIds: ['b'] });
    expect(nearestFreeSlot({ start: T0, end: T0 + H }, [slot('c', 1), slot('d', 4)], [])).toEqual({ start: T0 + H, end: T0 + 2 * H, slotIds: ['c'] });
  });

  it('skips slots that overlap a busy period of any participant, but back to back is fine', () => {
    const slots = [slot('b', -1), slot('c', 1), slot('d', 2)];
    const busy = [{ start: T0 - H + 30 * M, end: T0 }, { start: T0 + H, end: T0 + H + M }];
    expect(nearestFreeSlot({ start: T0, end: T0 + H }, slots, busy)?.slotIds).toEqual(['d']);
    expect(nearestFreeSlot({ start: T0, end: T0 + H }, [slot('c', 1)], [{ start: T0, end: T0 + H }])?.slotIds).toEqual(['c']);
  });

  it('keeps the requested duration, covering it with back-to-back slots of one schedule', () => {
    const slots = [slot('a', 2, 15), slot('b', 2.25, 15), slot('c', 3, 15), slot('x', 2.25, 15, 'S2')];
    const p = nearestFreeSlot({ start: T0, end: T0 + 30 * M }, slots, []);
    expect(p).toEqual({ start: T0 + 2 * H, end: T0 + 2 * H + 30 * M, slotIds: ['a', 'b'] });
    // a gap between slots breaks the cover
    expect(nearestFreeSlot({ start: T0, end: T0 + 30 * M }, [slot('a', 2, 15), slot('c', 3, 15)], [])).toBeUndefined();
  });

  it('never proposes a slot starting before notBefore (now), however near', () => {
    const slots = [slot('past', -1), slot('later', 5)];
    expect(nearestFreeSlot({ start: T0, end: T0 + H }, slots, [])?.slotIds).toEqual(['past']);
    expect(nearestFreeSlot({ start: T0, end: T0 + H }, slots, [], T0 - 30 * M)?.slotIds).toEqual(['later']);
    expect(nearestFreeSlot({ start: T0, end: T0 + H }, [slot('past', -1)], [], T0)).toBeUndefined();
  });

  it('never proposes the requested time itself, and answers undefined with no slot', () => {
    expect(nearestFreeSlot({ start: T0, end: T0 + H }, [slot('z', 0)], [])).toBeUndefined();
    expect(nearestFreeSlot({ start: T0, end: T0 + H }, [], [])).toBeUndefined();
  });
});
