import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { QUEUES } from './queues';
import { REDIS, bullPrefix } from './redis.provider';

/**
 * The API process's read handles on the queues (for metrics and the administrators' dashboard).
 * The API never adds jobs: writes reach the queues through the outbox.
 */
@Injectable()
export class ApiQueues implements OnApplicationShutdown {
  readonly all: Queue[];

  constructor(@Inject(REDIS) redis: Redis, @Inject(APP_CONFIG) config: AppConfig) {
    // Given a connection, BullMQ shares it and leaves closing it to its owner (RedisShutdown).
    this.all = Object.values(QUEUES).map((name) => new Queue(name, { connection: redis, prefix: bullPrefix(config.queuePrefix) }));
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.all.map((q) => q.close().catch(() => undefined)));
  }
}
