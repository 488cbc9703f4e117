import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { LOGGER } from '../../core/core.module';
import { APP_CONFIG } from '../../core/tokens';
import { QUEUES } from '../../queue/queues';
import { TableToQueue } from '../../queue/table-to-queue';
import { EXCHANGE_SYNC_CHANNEL } from '../sync-runs.repository';
import { pullOptions } from './pull-options';
import { PullRepository } from './pull.repository';

const BATCH = 50;

/** BullMQ job id of a sync run (deterministic: a run handed over twice is still one job; no ':'). */
export const syncJobId = (runId: number): string => `sync-${runId}`;

/**
 * Hands queued sync runs to the exchange-sync queue (in the worker process), as the bulk export
 * dispatcher does (src/queue/table-to-queue.ts): the API and the scheduler only write the run's
 * row, so asking for a sync works while Redis is down, and it is queued once Redis is back.
 */
@Injectable()
export class SyncDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly pump: TableToQueue;

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Inject(LOGGER) logger: Logger, repo: PullRepository) {
    const options = pullOptions();
    this.pump = new TableToQueue(config, logger, {
      name: 'exchange sync dispatcher',
      queue: QUEUES.exchangeSync,
      channel: EXCHANGE_SYNC_CHANNEL,
      pollMs: options.pollMs,
      drainBatch: async (publish) => {
        const moved = await repo.claimToEnqueue(BATCH, (ids) =>
          publish(
            ids.map((runId) => ({
              name: 'sync',
              data: { runId },
              opts: {
                jobId: syncJobId(runId),
                attempts: options.attempts,
                backoff: { type: 'exponential', delay: options.backoffMs },
                removeOnComplete: { age: 24 * 3600, count: 1000 },
                removeOnFail: false,
              },
            })),
          ),
        );
        return { moved, full: moved >= BATCH };
      },
    });
  }

  onApplicationBootstrap(): Promise<void> {
    return this.pump.start();
  }

  /** Moves the queued runs now (tests). */
  dispatch(): Promise<number> {
    return this.pump.drainAll();
  }

  onApplicationShutdown(): Promise<void> {
    return this.pump.stop();
  }
}
