import { Inject, Injectable, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';

export const REDIS = Symbol('REDIS');

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
