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
/** How often a dispatcher looks for open runs whose jobs were lost, and how old their hand-over must be. */
const LOST_SWEEP_MS = 60_000;
const LOST_GRACE_SECONDS = 120;

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
  private lastSweep = 0;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly repo: PullRepository,
  ) {
    const options = pullOptions();
    this.pump = new TableToQueue(config, logger, {
      name: 'exchange sync dispatcher',
      queue: QUEUES.exchangeSync,
      channel: EXCHANGE_SYNC_CHANNEL,
      pollMs: options.pollMs,
      beforeDrain: async () => {
        if (Date.now() - this.lastSweep < LOST_SWEEP_MS) return;
        this.lastSweep = Date.now();
        await this.requeueLost();
      },
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

  /**
   * An open run whose job the queue no longer holds (Redis lost its data, or the job was removed
   * by hand) would keep its connection from ever syncing again (one open run per connection): it
   * is queued again and resumes from its cursor. Returns the runs put back.
   */
  async requeueLost(graceSeconds = LOST_GRACE_SECONDS): Promise<number[]> {
    const open = await this.repo.openEnqueuedBefore(graceSeconds);
    const missing = new Set(await this.pump.missingJobs(open.map(syncJobId)));
    const lost = open.filter((id) => missing.has(syncJobId(id)));
    if (lost.length) {
      this.logger.warn({ runs: lost }, 'exchange sync runs whose jobs were lost are queued again');
      await this.repo.requeue(lost);
    }
    return lost;
  }

  /** Moves the queued runs now (tests). */
  dispatch(): Promise<number> {
    return this.pump.drainAll();
  }

  onApplicationShutdown(): Promise<void> {
    return this.pump.stop();
  }
}
