import { percentile, percentiles } from './response-times';

describe('nearest-rank percentiles', () => {
  it('is null without values', () => {
    expect(percentiles([])).toEqual({ count: 0, p50: null, p95: null });
  });
  it('takes the value at rank ceil(p·n)', () => {
    const v = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5]; // 1..10
    expect(percentile(v, 50)).toBe(5);
    expect(percentile(v, 95)).toBe(10);
    expect(percentile(v, 90)).toBe(9);
    expect(percentile([42], 95)).toBe(42);
  });
  it('of 20 values the p95 is the 19th', () => {
    const v = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentiles(v)).toEqual({ count: 20, p50: 10, p95: 19 });
  });
});
