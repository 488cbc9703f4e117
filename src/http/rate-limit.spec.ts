import { OperationOutcomeError } from '../fhir/operation-outcome';
import { RateLimiter } from './rate-limit';
import { SharedRateWindows } from './shared-rate-windows';

describe('RateLimiter', () => {
  it('allows perMinute requests at once, then refuses with 429 until tokens refill', () => {
    const limiter = new RateLimiter(60);
    const t0 = 1_000_000;
    for (let i = 0; i < 60; i++) limiter.take('a', t0);
    expect(() => limiter.take('a', t0)).toThrow(OperationOutcomeError);
    try {
      limiter.take('a', t0);
    } catch (e) {
      expect((e as OperationOutcomeError).status).toBe(429);
    }
    expect(() => limiter.take('b', t0)).not.toThrow(); // buckets are per key
    expect(() => limiter.take('a', t0 + 1000)).not.toThrow(); // one token a second refills
  });

  it('is off at 0: nothing refused, nothing counted, no shared sync', () => {
    const counted: string[] = [];
    const limiter = new RateLimiter(0, { blockedFor: () => 60_000, count: (key: string) => counted.push(key) } as unknown as SharedRateWindows);
    for (let i = 0; i < 1000; i++) expect(() => limiter.take('a')).not.toThrow();
    expect(counted).toEqual([]);
    // The shared windows of a limit of 0 run no timer (a sync would find nothing to add).
    jest.useFakeTimers();
    try {
      const windows = new SharedRateWindows({ status: 'ready' } as never, '{p}', 'address', 0);
      const sync = jest.spyOn(windows, 'sync');
      jest.advanceTimersByTime(5_000);
      expect(sync).not.toHaveBeenCalled();
      const on = new SharedRateWindows({ status: 'ready' } as never, '{p}', 'address', 10);
      const onSync = jest.spyOn(on, 'sync');
      jest.advanceTimersByTime(2_500);
      expect(onSync).toHaveBeenCalledTimes(2);
      on.close();
      windows.close();
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('RateLimiter with counts shared across processes', () => {
  const shared = (blocked: Record<string, number>) => {
    const counted: string[] = [];
    return { counted, windows: { blockedFor: (key: string) => blocked[key] ?? 0, count: (key: string) => counted.push(key) } as unknown as SharedRateWindows };
  };

  it('refuses a key whose shared minute is full, with its Retry-After, though its own bucket is not empty', () => {
    const { counted, windows } = shared({ a: 12_300 });
    const limiter = new RateLimiter(60, windows);
    let refused: (OperationOutcomeError & { retryAfter?: number }) | undefined;
    try {
      limiter.take('a');
    } catch (e) {
      refused = e as OperationOutcomeError;
    }
    expect(refused?.status).toBe(429);
    expect(refused?.retryAfter).toBe(13);
    limiter.take('b');
    expect(counted).toEqual(['b']); // the refused request is not counted
  });

  it('counts only what it serves', () => {
    const { counted, windows } = shared({});
    const limiter = new RateLimiter(2, windows);
    limiter.take('a', 0);
    limiter.take('a', 0);
    expect(() => limiter.take('a', 0)).toThrow(OperationOutcomeError);
    expect(counted).toEqual(['a', 'a']);
  });
});
