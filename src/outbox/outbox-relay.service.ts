import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/app-config';
import { LOGGER } from '../core/core.module';
import { APP_CONFIG } from '../core/tokens';
import { QUEUES, resourceEventJobId } from '../queue/queues';
import { TableToQueue } from '../queue/table-to-queue';
import { OUTBOX_CHANNEL, OutboxRepository, type ResourceEvent } from './outbox.repository';

const BATCH = 500;

/**
 * Drains the outbox into the resource-events queue (src/queue/table-to-queue.ts): woken by NOTIFY
 * on commit, and polling as a safety net, so events written while Redis was down (or while no
 * relay ran) are published once it is back. Job ids are deterministic, so publishing an event
 * twice (a crash between add and mark) still makes one job.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly pump: TableToQueue;

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Inject(LOGGER) logger: Logger, outbox: OutboxRepository) {
    this.pump = new TableToQueue(config, logger, {
      name: 'outbox relay',
      queue: QUEUES.resourceEvents,
      channel: OUTBOX_CHANNEL,
      pollMs: Number(process.env.OUTBOX_POLL_MS || 1000),
      drainBatch: async (publish) => {
        const moved = await outbox.drain(BATCH, (events) => publish(events.map(toJob)));
        return { moved, full: moved >= BATCH };
      },
    });
  }

  onApplicationBootstrap(): Promise<void> {
    return this.pump.start();
  }

  /** Starts a drain unless one is running, in which case that one goes round once more. */
  kick(): void {
    this.pump.kick();
  }

  /** Publishes until the outbox is empty or Redis refuses. Returns how many events went out. */
  drainAll(): Promise<number> {
    return this.pump.drainAll();
  }

  onApplicationShutdown(): Promise<void> {
    return this.pump.stop();
  }
}

function toJob(e: ResourceEvent) {
  return {
    name: `${e.action}:${e.resourceType}`,
    data: e,
    opts: {
      jobId: resourceEventJobId(e),
      attempts: 5,
      backoff: { type: 'exponential' as const, delay: 1000 },
      removeOnComplete: { age: 24 * 3600, count: 10000 },
      removeOnFail: false,
    },
  };
}
