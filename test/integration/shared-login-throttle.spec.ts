import type { Redis } from 'ioredis';
import { ClientLogin } from '../../src/auth/client-login.service';
import type { ClientRecord, ClientRepository } from '../../src/auth/client.repository';
import { loadConfig, type AppConfig } from '../../src/config/app-config';
import { bullPrefix, createRedis } from '../../src/queue/redis.provider';
import { OwnRedis, disconnectAll } from '../helpers/redis-server';
import { testQueuePrefix } from '../helpers/test-database';
import { REFUSING_REDIS_URL, TEST_REDIS_URL } from '../helpers/test-worker';

/**
 * Failed sign-ins are counted in Redis, so that every API process sees them: two ClientLogin
 * instances (two processes' worth) on one Redis share the lockout. With Redis unreachable, each
 * still throttles on its own count, without waiting for Redis.
 */

const SECRET = 'right-secret';

/** A client store that knows one client id, with SECRET (the database is not what is tested here). */
const clients = {
  authenticate: async (id: string, secret: string) => (id === 'ehr-1' && secret === SECRET ? ({ clientId: id } as unknown as ClientRecord) : undefined),
} as unknown as ClientRepository;

function config(queuePrefix: string): AppConfig {
  return { ...loadConfig({ NODE_ENV: 'test', QUEUE_PREFIX: queuePrefix }), loginMaxFailures: 3, loginLockoutSeconds: 60 };
}

const prefix = testQueuePrefix();
const connections: Redis[] = [];
function processOn(redisUrl: string, queuePrefix = prefix): ClientLogin {
  const redis = createRedis(redisUrl);
  redis.on('error', () => undefined); // the refusing Redis: ioredis reports each failed reconnect
  connections.push(redis);
  return new ClientLogin(config(queuePrefix), redis, clients);
}

async function waitUntil(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterAll(async () => {
  await disconnectAll(connections);
});

it('locks a client id out in every process once the failures of all of them reach the limit', async () => {
  const a = processOn(TEST_REDIS_URL);
  const b = processOn(TEST_REDIS_URL);
  const c = processOn(TEST_REDIS_URL);
  expect(await a.login('ehr-1', 'guess-1')).toEqual({ refused: 'credentials' });
  expect(await b.login('ehr-1', 'guess-2')).toEqual({ refused: 'credentials' });
  expect(await a.login('ehr-1', 'guess-3')).toEqual({ refused: 'credentials' });
  // c has seen no failure of its own, and the right secret does not get through either.
  for (const p of [a, b, c]) expect(await p.login('ehr-1', SECRET)).toEqual({ refused: 'locked', retryAfter: expect.any(Number) });
  const locked = await c.login('ehr-1', SECRET);
  expect('retryAfter' in locked && locked.retryAfter).toBeGreaterThan(55);
  expect('retryAfter' in locked && locked.retryAfter).toBeLessThanOrEqual(60);
  // Another client id, and the same id under another deployment's prefix, are not affected.
  expect(await c.login('ehr-2', 'x')).toEqual({ refused: 'credentials' });
  expect(await processOn(TEST_REDIS_URL, testQueuePrefix()).login('ehr-1', SECRET)).toEqual({ client: { clientId: 'ehr-1' } });
  // The key is the hash of the client id, with the prefix, and it expires with the lockout.
  const probe = createRedis(TEST_REDIS_URL);
  connections.push(probe);
  const keys = await probe.keys(`${bullPrefix(prefix)}:login-failures:*`);
  expect(keys).toHaveLength(2);
  for (const k of keys) {
    expect(k).toMatch(/:login-failures:[0-9a-f]{64}$/);
    expect(await probe.pttl(k)).toBeGreaterThan(0);
  }
});

it('clears the shared count on a success', async () => {
  const id = 'ehr-1';
  const own = testQueuePrefix(); // the first test left ehr-1 locked out under `prefix`
  const [p, q] = [processOn(TEST_REDIS_URL, own), processOn(TEST_REDIS_URL, own)];
  expect(await p.login(id, 'guess-1')).toEqual({ refused: 'credentials' });
  expect(await q.login(id, 'guess-2')).toEqual({ refused: 'credentials' });
  expect(await q.login(id, SECRET)).toEqual({ client: { clientId: id } });
  // p's own count (1) and the cleared shared one: two more failures do not lock it.
  expect(await q.login(id, 'guess-3')).toEqual({ refused: 'credentials' });
  expect(await q.login(id, 'guess-4')).toEqual({ refused: 'credentials' });
  expect(await p.login(id, SECRET)).toEqual({ client: { clientId: id } });
});

it('throttles on its own count when Redis does not answer, without waiting for it', async () => {
  const lone = processOn(REFUSING_REDIS_URL);
  const started = Date.now();
  for (let i = 0; i < 3; i++) expect(await lone.login('ehr-1', `guess-${i}`)).toEqual({ refused: 'credentials' });
  expect(await lone.login('ehr-1', SECRET)).toEqual({ refused: 'locked', retryAfter: 60 });
  expect(Date.now() - started).toBeLessThan(2_000);
});

it('throttles on its own count while Redis is down, and on the shared one again when it is back', async () => {
  const redis = await OwnRedis.start();
  try {
    const a = processOn(redis.url);
    const b = processOn(redis.url);
    expect(await a.login('ehr-1', 'guess-1')).toEqual({ refused: 'credentials' });
    await redis.kill();
    expect(await a.login('ehr-1', 'guess-2')).toEqual({ refused: 'credentials' });
    expect(await a.login('ehr-1', 'guess-3')).toEqual({ refused: 'credentials' });
    expect(await a.login('ehr-1', SECRET)).toEqual({ refused: 'locked', retryAfter: 60 });
    // b saw none of a's failures while Redis was down, and the one before is not enough.
    expect(await b.login('ehr-1', SECRET)).toEqual({ client: { clientId: 'ehr-1' } });
    // Redis back: failures are shared again. (Another client id: ioredis may resend the commands
    // it had in flight when Redis went, so ehr-1's stored count is 1 or 3.)
    await redis.start();
    const c = processOn(redis.url);
    await waitUntil(() => connections.every((r) => r.status === 'ready' || !r.options.port || r.options.port !== redis.port));
    expect(await a.login('ehr-7', 'guess-1')).toEqual({ refused: 'credentials' });
    expect(await b.login('ehr-7', 'guess-2')).toEqual({ refused: 'credentials' });
    expect(await b.login('ehr-7', 'guess-3')).toEqual({ refused: 'credentials' });
    expect(await c.login('ehr-7', 'guess-4')).toEqual({ refused: 'locked', retryAfter: expect.any(Number) });
  } finally {
    await redis.dispose();
  }
});
