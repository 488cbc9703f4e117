import { FORECAST_METHOD, forecastOccupancy } from './occupancy-forecast';

const week = [10, 12, 14, 13, 11, 6, 5];

describe('forecastOccupancy (Holt-Winters additive, weekly)', () => {
  it('forecasts a constant series as that constant', () => {
    expect(forecastOccupancy(Array(28).fill(7), 5)).toEqual({ method: FORECAST_METHOD.name, values: [7, 7, 7, 7, 7] });
  });

  it('repeats an exact weekly pattern', () => {
    const history = [...week, ...week, ...week, ...week];
    expect(forecastOccupancy(history, 10).values).toEqual([...week, ...week.slice(0, 3)]);
  });

  it('continues an exact trend plus weekly pattern', () => {
    const y = (t: number) => 20 + 0.5 * t + week[t % 7] - 10;
    const history = Array.from({ length: 35 }, (_, t) => y(t));
    const expected = Array.from({ length: 7 }, (_, h) => Math.round(y(35 + h) * 100) / 100);
    expect(forecastOccupancy(history, 7).values).toEqual(expected);
  });

  it('follows the documented recursion on a noisy series', () => {
    const history = [...week, ...week, 20];
    // initialisation: both weeks equal, so T = 0, L = mean(week) = 10, s_i = week[i] − 10
    const L0 = 10;
    const s0 = week[0] - L0;
    const L = 0.4 * (20 - s0) + 0.6 * L0;
    const T = 0.1 * (L - L0);
    // horizon 1: L + T + s_{n−m} where n = 15, s_8 = s_1 = week[1] − 10
    const expected = Math.round((L + T + (week[1] - L0)) * 100) / 100;
    expect(forecastOccupancy(history, 1).values).toEqual([expected]);
  });

  it('falls back to seasonal naive, then the mean, and clamps to [0, capacity]', () => {
    expect(forecastOccupancy([...week, 3], 3)).toEqual({ method: 'seasonal-naive', values: [12, 14, 13] });
    expect(forecastOccupancy([2, 4], 2)).toEqual({ method: 'mean', values: [3, 3] });
    expect(forecastOccupancy([], 1)).toEqual({ method: 'mean', values: [0] });
    expect(forecastOccupancy([...week, ...week], 3, 11).values).toEqual([10, 11, 11]);
    const falling = Array.from({ length: 21 }, (_, t) => Math.max(0, 20 - 2 * t));
    expect(forecastOccupancy(falling, 3).values.every((v) => v >= 0)).toBe(true);
  });
});
