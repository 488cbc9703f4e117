import type { NextFunction, Request, Response } from 'express';
import { OperationOutcomeError } from '../fhir/operation-outcome';

/**
 * Token buckets per key (a client id, or an address before authentication), in this process's
 * memory: each API process enforces its own share. `perMinute` 0 disables the limit.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly perMinute: number) {}

  /** Takes one request from the key's bucket; throws a 429 OperationOutcome when it is empty. */
  take(key: string, now = Date.now()): void {
    if (this.perMinute <= 0) return;
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + ((now - bucket.at) * this.perMinute) / 60000);
    bucket.at = now;
    if (bucket.tokens < 1) {
      const retryAfter = Math.ceil(((1 - bucket.tokens) * 60000) / this.perMinute / 1000);
      const err = OperationOutcomeError.of(429, 'throttled', `Too many requests; retry after ${retryAfter} s`);
      (err as OperationOutcomeError & { retryAfter?: number }).retryAfter = retryAfter;
      throw err;
    }
    bucket.tokens -= 1;
    if (this.buckets.size > 100000) this.buckets.clear();
    this.buckets.set(key, bucket);
  }
}

/** Limits requests per remote address before authentication (guards the token endpoint against guessing). */
export function rateLimiter(perMinute: number): (req: Request, res: Response, next: NextFunction) => void {
  const limiter = new RateLimiter(perMinute);
  return (req, _res, next) => {
    try {
      limiter.take(`ip:${req.clientAddress ?? req.ip ?? 'unknown'}`);
      next();
    } catch (e) {
      next(e);
    }
  };
}
