import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** How often each process adds its counts to Redis and learns the totals. */
export const RATE_SYNC_MS = 1000;

const WINDOW_MS = 60_000;
/** Keys per script call (each call blocks Redis while it runs). */
const SYNC_CHUNK = 500;

/**
 * Adds each key's requests since the last sync to its count for the current minute and returns
 * the totals. KEYS: one count per key; ARGV: the increments, then the count's lifetime in ms.
 */
const ADD = `
local ttl = ARGV[#ARGV]
local totals = {}
for i, key in ipairs(KEYS) do
  totals[i] = redis.call('INCRBY', key, ARGV[i])
  if totals[i] == tonumber(ARGV[i]) then redis.call('PEXPIRE', key, ttl) end
end
return totals`;

/**
 * The requests of every API process per key (a client, an address), counted in Redis in fixed
 * one-minute windows, so that N processes behind a load balancer do not allow N times the limit.
 * No request waits on Redis: each process counts in memory and, every RATE_SYNC_MS, adds its
 * counts in one round trip and learns the totals; a key whose total reached the limit is refused
 * by every process that has seen it since, until its minute ends. So a process learns of a key
 * within a second of serving it, and the limit can be passed by what the processes serve in that
 * second. While Redis is down the counts are dropped and each process's own bucket (RateLimiter)
 * decides alone. Keys are `{prefix}:rate:<name>:<minute>:` and a hash of the key.
 */
export class SharedRateWindows {
  private pending = new Map<string, number>();
  /** Keys whose window is full, with the time (ms) that window ends. */
  private readonly full = new Map<string, number>();
  private syncing = false;
  private readonly timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly name: string,
    private readonly perMinute: number,
  ) {
    // A limit of 0 is no limit (RateLimiter counts nothing): nothing to sync.
    if (perMinute > 0) this.timer = setInterval(() => void this.sync(), RATE_SYNC_MS).unref();
  }

  /** Milliseconds until the key may be served again (0: now), as far as this process knows. */
  blockedFor(key: string, now = Date.now()): number {
    const until = this.full.get(key);
    if (until === undefined) return 0;
    if (until > now) return until - now;
    this.full.delete(key);
    return 0;
  }

  /** One request served for the key. */
  count(key: string): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  /** Adds this process's counts to the window's totals and marks the keys that reached the limit. */
  async sync(now = Date.now()): Promise<void> {
    for (const [key, until] of this.full) if (until <= now) this.full.delete(key);
    if (this.syncing || !this.pending.size) return;
    const counts = [...this.pending];
    this.pending = new Map();
    // Down, a command would wait in ioredis' offline queue: the counts are dropped instead.
    if (this.redis.status !== 'ready') return;
    const window = Math.floor(now / WINDOW_MS);
    this.syncing = true;
    try {
      for (let at = 0; at < counts.length; at += SYNC_CHUNK) {
        const chunk = counts.slice(at, at + SYNC_CHUNK);
        const totals = (await this.redis.eval(ADD, chunk.length, ...chunk.map(([key]) => this.redisKey(key, window)), ...chunk.map(([, n]) => n), 2 * WINDOW_MS)) as number[];
        chunk.forEach(([key], i) => {
          if (Number(totals[i]) >= this.perMinute) this.full.set(key, (window + 1) * WINDOW_MS);
        });
      }
    } catch {
      // Redis failed mid-call: the local buckets decide until it answers again.
    } finally {
      this.syncing = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private redisKey(key: string, window: number): string {
    return `${this.keyPrefix}:rate:${this.name}:${window}:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
  }
}
