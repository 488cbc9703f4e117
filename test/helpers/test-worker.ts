import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue } from 'bullmq';
import type { AppConfig } from '../../src/config/app-config';
import { createLogger } from '../../src/core/logger';
import { OutboxRelay } from '../../src/outbox/outbox-relay.service';
import { QUEUES } from '../../src/queue/queues';
import { bullPrefix } from '../../src/queue/redis.provider';
import { WorkerModule } from '../../workers/worker.module';

/** The Redis the tests run against (the configuration's default). */
export const TEST_REDIS_URL = 'redis://127.0.0.1:6379';

/** A Redis URL nothing listens on: "Redis is down". */
export const REFUSING_REDIS_URL = 'redis://127.0.0.1:6390';

export interface TestWorker {
  ctx: INestApplicationContext;
  relay: OutboxRelay;
  close(): Promise<void>;
}

/**
 * The worker process as workers/main.ts builds it (outbox relay + BullMQ processors), in this
 * process, for the given configuration (typically a TestApp's, so it shares its database and
 * queue prefix).
 */
export async function startTestWorker(config: AppConfig): Promise<TestWorker> {
  const logger = createLogger(process.env.TEST_LOG_LEVEL || 'fatal', 'test-worker');
  const ctx = await NestFactory.createApplicationContext(WorkerModule.forRoot(config, logger), { logger: false, abortOnError: false });
  return {
    ctx,
    relay: ctx.get(OutboxRelay),
    close: () => ctx.close(),
  };
}

/** A client of the resource-events queue under a queue prefix (as configured, without braces). */
export function resourceEventsQueue(queuePrefix: string, redisUrl = TEST_REDIS_URL): Queue {
  const u = new URL(redisUrl);
  return new Queue(QUEUES.resourceEvents, {
    connection: { host: u.hostname, port: Number(u.port || 6379) },
    prefix: bullPrefix(queuePrefix),
  });
}
