import { Redis } from 'ioredis';

/**
 * Unlinks every Redis key matching the patterns (SCAN, never KEYS): what a run's queue prefix left
 * behind, BullMQ's hash-tagged `{prefix}:...` keys and the server's own. Returns how many went.
 */
export async function unlinkKeys(redisUrl: string, patterns: string[]): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  let dropped = 0;
  try {
    await redis.connect();
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length) dropped += await redis.unlink(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
  return dropped;
}

/** The patterns of one queue prefix's keys. */
export const queuePrefixPatterns = (prefix: string): string[] => [`{${prefix}}:*`, `${prefix}:*`];
