import { OperationOutcomeError } from '../fhir/operation-outcome';
import { RateLimiter } from './rate-limit';

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

  it('is off at 0', () => {
    const limiter = new RateLimiter(0);
    for (let i = 0; i < 1000; i++) limiter.take('a');
  });
});
