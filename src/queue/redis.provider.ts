import { Inject, Injectable, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { Redis } from 'ioredis';
import { RedisConnection } from 'bullmq';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';

export const REDIS = Symbol('REDIS');

/**
 * BullMQ (5.x) reports a connection whose start-up fails by emitting 'error' on its RedisConnection,
 * an EventEmitter that close() strips of every listener. On a shared connection that start-up can
 * fail after close() (Redis down while a queue or worker shuts down), and an 'error' with no
 * listener throws: an uncaught error in a process that is only stopping. (BullMQ suppresses this
 * for connections it owns, not for shared ones.) So a closed connection keeps one listener.
 */
const closeConnection = RedisConnection.prototype.close;
RedisConnection.prototype.close = async function close(this: RedisConnection, ...args: Parameters<typeof closeConnection>): Promise<void> {
  try {
    await closeConnection.apply(this, args);
  } finally {
    if (this.listenerCount('error') === 0) this.on('error', () => undefined);
  }
};

/** A Redis connection that keeps retrying while Redis is down (BullMQ needs maxRetriesPerRequest: null). */
export function createRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableOfflineQueue: true });
}

export const redisProvider: Provider = {
  provide: REDIS,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig) => createRedis(config.redisUrl),
};

@Injectable()
export class RedisShutdown implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    // While Redis is down, QUIT would wait in the offline queue for a connection that never comes.
    if (this.redis.status !== 'ready') {
      this.redis.disconnect();
      return;
    }
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** BullMQ key prefix: hash-tagged so that every key of a queue lands in one Redis Cluster slot. */
export function bullPrefix(queuePrefix: string): string {
  return queuePrefix.startsWith('{') ? queuePrefix : `{${queuePrefix}}`;
}
