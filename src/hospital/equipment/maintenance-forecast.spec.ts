import { FLAG_HORIZON_DAYS, forecastMaintenance, mergedPeriods } from './maintenance-forecast';

const H = 3_600_000;
const D = 24 * H;
const NOW = Date.parse('2026-11-27T12:00:00Z');

describe('mergedPeriods', () => {
  it('clips to the range and merges overlaps, so overlapping statements are not counted twice', () => {
    expect(mergedPeriods([{ start: 5, end: 10 }, { start: 0, end: 6 }, { start: 20, end: 40 }], 2, 30)).toEqual([{ start: 2, end: 10 }, { start: 20, end: 30 }]);
  });
});

describe('forecastMaintenance (usage-hours-linear 1.0.0)', () => {
  it('is not flagged below 90% with the interval far away, and extrapolates the rate', () => {
    // 10 days ago maintained; used 2 h a day for those 10 days = 20 h; 100 h interval → 80 h left at 2 h/day = 40 days
    const usages = Array.from({ length: 10 }, (_, i) => ({ start: NOW - (10 - i) * D, end: NOW - (10 - i) * D + 2 * H }));
    const f = forecastMaintenance({ intervalHours: 100, lastMaintenance: NOW - 10 * D, usages, now: NOW });
    expect(f).toMatchObject({ flag: false, hours_since_maintenance: 20, rate_hours_per_day: 2, predicted_date: '2027-01-06', method: 'usage-hours-linear', method_version: '1.0.0' });
  });

  it('flags at 90% of the interval', () => {
    const f = forecastMaintenance({ intervalHours: 100, lastMaintenance: NOW - 60 * D, usages: [{ start: NOW - 50 * D, end: NOW - 50 * D + 90 * H }], now: NOW });
    expect(f.flag).toBe(true);
    expect(f.hours_since_maintenance).toBe(90);
    expect(f.reason).toMatch(/90%/);
    expect(f.rate_hours_per_day).toBe(0); // nothing in the last 30 days
    expect(f.predicted_date).toBeNull();
  });

  it('flags when the extrapolated date falls within the horizon, and not just after it', () => {
    // 10 h/day for the last 3 days: 30 h of 100 → 7 days left
    const usages = [0, 1, 2].map((i) => ({ start: NOW - (3 - i) * D, end: NOW - (3 - i) * D + 10 * H }));
    const soon = forecastMaintenance({ intervalHours: 100, lastMaintenance: NOW - 3 * D, usages, now: NOW });
    expect(soon).toMatchObject({ flag: true, hours_since_maintenance: 30, rate_hours_per_day: 10, predicted_date: '2026-12-04' });
    // same rate, 200 h interval → 17 days left: beyond FLAG_HORIZON_DAYS
    const later = forecastMaintenance({ intervalHours: 200, lastMaintenance: NOW - 3 * D, usages, now: NOW });
    expect(FLAG_HORIZON_DAYS).toBe(14);
    expect(later).toMatchObject({ flag: false, predicted_date: '2026-12-14' });
  });

  it('when overdue, the predicted date is the day the interval was reached', () => {
    const usages = [{ start: Date.parse('2026-11-01T00:00:00Z'), end: Date.parse('2026-11-03T12:00:00Z') }]; // 60 h
    const f = forecastMaintenance({ intervalHours: 50, usages, now: NOW });
    expect(f).toMatchObject({ flag: true, hours_since_maintenance: 60, predicted_date: '2026-11-03', last_maintenance: null });
    expect(f.reason).toMatch(/^Overdue/);
  });

  it('counts only the use after the last maintenance', () => {
    const usages = [{ start: NOW - 5 * D, end: NOW - 5 * D + 95 * H }];
    const f = forecastMaintenance({ intervalHours: 100, lastMaintenance: NOW - 2 * D, usages, now: NOW });
    expect(f.hours_since_maintenance).toBe(23); // use runs NOW-120 h..NOW-25 h; maintained at NOW-48 h
  });
});
