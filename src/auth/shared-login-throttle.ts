import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** How long a sign-in waits for Redis before it is decided by this process's own count alone. */
export const SHARED_THROTTLE_TIMEOUT_MS = 250;

/**
 * A failure: counts it, and starts the window on the first failure and the lockout on the one that
 * reaches the limit (as LoginThrottle does in memory). KEYS[1] the client id's key; ARGV window
 * ms, limit. Returns the count.
 */
const FAILED = `
local n = redis.call('INCR', KEYS[1])
if n == 1 or n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

/** Milliseconds left of the lockout, 0 when the client id is not locked out. KEYS[1] its key; ARGV limit. */
const LOCKED_FOR = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then return 0 end
local t = redis.call('PTTL', KEYS[1])
if t < 0 then return 0 end
return t`;

/**
 * The failed sign-ins of every API process, counted in Redis, so that N processes do not give an
 * attacker N times the attempts. Each call answers undefined when Redis is not ready or does not
 * answer within SHARED_THROTTLE_TIMEOUT_MS: the caller then relies on its in-process count
 * (LoginThrottle), which it keeps as well. Keys are `{prefix}:login-failures:` and a hash of the
 * client id (ids are caller input of any length), and expire with their window.
 */
export class SharedLoginThrottle {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  /** Seconds until the client id may try again (0: now), or undefined when Redis did not answer. */
  async retryAfter(clientId: string): Promise<number | undefined> {
    if (this.maxFailures <= 0) return 0;
    const ms = await this.call(() => this.redis.eval(LOCKED_FOR, 1, this.key(clientId), this.maxFailures));
    return ms === undefined ? undefined : Math.ceil(Number(ms) / 1000);
  }

  async failed(clientId: string): Promise<void> {
    if (this.maxFailures <= 0) return;
    await this.call(() => this.redis.eval(FAILED, 1, this.key(clientId), this.windowMs, this.maxFailures));
  }

  async succeeded(clientId: string): Promise<void> {
    if (this.maxFailures <= 0) return;
    await this.call(() => this.redis.del(this.key(clientId)));
  }

  private key(clientId: string): string {
    return `${this.keyPrefix}:login-failures:${createHash('sha256').update(clientId, 'utf8').digest('hex')}`;
  }

  private async call<T>(command: () => Promise<T>): Promise<T | undefined> {
    // While Redis is down (the connection was lost), a command would wait in ioredis' offline queue
    // until it is back; a connection still being opened is worth the short wait.
    if (this.redis.status !== 'ready' && this.redis.status !== 'connecting' && this.redis.status !== 'connect') return undefined;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), SHARED_THROTTLE_TIMEOUT_MS);
    });
    try {
      return await Promise.race([command().catch(() => undefined), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
