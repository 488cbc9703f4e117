import type { NextFunction, Request, Response } from 'express';
import { OperationOutcomeError } from '../fhir/operation-outcome';
import type { SharedRateWindows } from './shared-rate-windows';

/**
 * Token buckets per key (a client id, or an address before authentication), in this process's
 * memory, and with `shared` the count of every API process in Redis (SharedRateWindows): a key is
 * refused when its bucket here is empty or its minute is full across the processes. `perMinute` 0
 * disables the limit.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly shared?: SharedRateWindows,
  ) {}

  /** Takes one request from the key's bucket; throws a 429 OperationOutcome when it is empty. */
  take(key: string, now = Date.now()): void {
    if (this.perMinute <= 0) return;
    const blocked = this.shared?.blockedFor(key, now) ?? 0;
    if (blocked > 0) throw throttled(Math.ceil(blocked / 1000));
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + ((now - bucket.at) * this.perMinute) / 60000);
    bucket.at = now;
    if (bucket.tokens < 1) throw throttled(Math.ceil(((1 - bucket.tokens) * 60000) / this.perMinute / 1000));
    bucket.tokens -= 1;
    if (this.buckets.size > 100000) this.buckets.clear();
    this.buckets.set(key, bucket);
    this.shared?.count(key);
  }
}

function throttled(retryAfter: number): OperationOutcomeError {
  const err = OperationOutcomeError.of(429, 'throttled', `Too many requests; retry after ${retryAfter} s`);
  (err as OperationOutcomeError & { retryAfter?: number }).retryAfter = retryAfter;
  return err;
}

/** Limits requests per remote address before authentication (guards the token endpoint against guessing). */
export function rateLimiter(perMinute: number, shared?: SharedRateWindows): (req: Request, res: Response, next: NextFunction) => void {
  const limiter = new RateLimiter(perMinute, shared);
  return (req, _res, next) => {
    try {
      limiter.take(`ip:${req.clientAddress ?? req.ip ?? 'unknown'}`);
      next();
    } catch (e) {
      next(e);
    }
  };
}
