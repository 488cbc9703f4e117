import type { Redis } from 'ioredis';
import { OperationOutcomeError } from '../../src/fhir/operation-outcome';
import { RateLimiter } from '../../src/http/rate-limit';
import { SharedRateWindows } from '../../src/http/shared-rate-windows';
import { bullPrefix, createRedis } from '../../src/queue/redis.provider';
import { disconnectAll } from '../helpers/redis-server';
import { testQueuePrefix } from '../helpers/test-database';
import { REFUSING_REDIS_URL, TEST_REDIS_URL } from '../helpers/test-worker';

/**
 * Request rate limits counted across API processes: two RateLimiters with their SharedRateWindows
 * (two processes' worth) on one Redis refuse a client once their requests together fill its
 * minute, though neither process's own bucket is empty. With Redis unreachable each process limits
 * on its own bucket, and no request waits.
 */

const prefix = bullPrefix(testQueuePrefix());
const connections: Redis[] = [];
const windows: SharedRateWindows[] = [];

async function ready(url: string): Promise<Redis> {
  const redis = createRedis(url);
  redis.on('error', () => undefined); // the refusing Redis: ioredis reports each failed reconnect
  connections.push(redis);
  if (url === TEST_REDIS_URL) await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

function processOn(redis: Redis, perMinute: number, keyPrefix = prefix): { limiter: RateLimiter; shared: SharedRateWindows } {
  const shared = new SharedRateWindows(redis, keyPrefix, 'client', perMinute);
  windows.push(shared);
  return { limiter: new RateLimiter(perMinute, shared), shared };
}

function status(take: () => void): number {
  try {
    take();
    return 200;
  } catch (e) {
    return (e as OperationOutcomeError).status;
  }
}

afterAll(async () => {
  for (const w of windows) w.close();
  await disconnectAll(connections);
});

it("refuses a client in every process once their requests together fill its minute, and says when it may come back", async () => {
  const redis = await ready(TEST_REDIS_URL);
  const a = processOn(redis, 10);
  const b = processOn(redis, 10);
  const now = Date.now();
  for (let i = 0; i < 6; i++) a.limiter.take('client:ehr-1', now);
  await a.shared.sync(now);
  for (let i = 0; i < 5; i++) b.limiter.take('client:ehr-1', now);
  await b.shared.sync(now);
  // 11 served in all: b learnt it at its sync; a at its next one, with the request it served meanwhile.
  expect(status(() => b.limiter.take('client:ehr-1', now))).toBe(429);
  expect(status(() => a.limiter.take('client:ehr-1', now))).toBe(200);
  await a.shared.sync(now);
  let refused: OperationOutcomeError | undefined;
  try {
    a.limiter.take('client:ehr-1', now);
  } catch (e) {
    refused = e as OperationOutcomeError;
  }
  expect(refused?.status).toBe(429);
  const retryAfter = (refused as OperationOutcomeError & { retryAfter?: number }).retryAfter!;
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(retryAfter).toBe(Math.ceil(a.shared.blockedFor('client:ehr-1', now) / 1000));
  // Another client, and the same client under another deployment's prefix, are served.
  expect(status(() => a.limiter.take('client:ehr-2', now))).toBe(200);
  const other = processOn(redis, 10, bullPrefix(testQueuePrefix()));
  expect(status(() => other.limiter.take('client:ehr-1', now))).toBe(200);
  await other.shared.sync(now);
  expect(status(() => other.limiter.take('client:ehr-1', now))).toBe(200);
  // The next minute is a new window.
  expect(a.shared.blockedFor('client:ehr-1', (Math.floor(now / 60_000) + 1) * 60_000)).toBe(0);
  const keys = await redis.keys(`${prefix}:rate:client:*`);
  expect(keys).toHaveLength(1); // one count per client and minute, expiring after the next minute
  expect(await redis.pttl(keys[0])).toBeGreaterThan(60_000);
});

it('limits on its own bucket, without waiting, while Redis is unreachable', async () => {
  const redis = await ready(REFUSING_REDIS_URL);
  const a = processOn(redis, 5);
  const now = Date.now();
  for (let i = 0; i < 5; i++) a.limiter.take('client:ehr-3', now);
  const started = Date.now();
  await a.shared.sync(now);
  expect(Date.now() - started).toBeLessThan(100);
  expect(status(() => a.limiter.take('client:ehr-3', now))).toBe(429); // its own bucket is empty
  expect(a.shared.blockedFor('client:ehr-3', now)).toBe(0);
});

it('forgets a full window once it has ended', async () => {
  const redis = await ready(TEST_REDIS_URL);
  const a = processOn(redis, 2);
  const now = Date.now();
  for (let i = 0; i < 2; i++) a.limiter.take('client:ehr-4', now);
  await a.shared.sync(now);
  expect(a.shared.blockedFor('client:ehr-4', now)).toBeGreaterThan(0);
  const next = (Math.floor(now / 60_000) + 1) * 60_000;
  await a.shared.sync(next);
  expect((a.shared as unknown as { full: Map<string, number> }).full.size).toBe(0);
  expect(a.shared.blockedFor('client:ehr-4', next)).toBe(0);
});
