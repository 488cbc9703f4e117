import { queryInstant } from './query-instant';

describe('queryInstant', () => {
  it('reads a date as midnight UTC and an instant with its time zone', () => {
    expect(queryInstant('2026-11-27', 'from')).toBe(Date.UTC(2026, 10, 27));
    expect(queryInstant('2026-11-27T10:00:00+02:00', 'from')).toBe(Date.UTC(2026, 10, 27, 8));
    expect(queryInstant('2026-11-27T10:00Z', 'from')).toBe(Date.UTC(2026, 10, 27, 10));
  });

  it('refuses an instant without a time zone (it would be read in the server zone) and anything else', () => {
    for (const bad of ['2026-11-27T10:00:00', '27/11/2026', '2026-13-40', '', 42, undefined]) {
      expect(() => queryInstant(bad, 'to')).toThrow(/to must be a date \(YYYY-MM-DD\) or an instant with a time zone/);
    }
  });
});
