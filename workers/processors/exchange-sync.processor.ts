import { Inject } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { LOGGER } from '../../src/core/core.module';
import { SyncService, type SyncResult } from '../../src/exchange/pull/sync.service';
import { QUEUES } from '../../src/queue/queues';
import { workerLockOptions } from '../../src/queue/worker-lock-options';

/**
 * Runs sync runs (pulls). A transient failure (the remote answered 5xx, timed out, or did not
 * answer) is thrown, and BullMQ tries again with backoff, resuming from the stored cursor; after the
 * last attempt the run is marked failed with the reason. A worker that dies mid-run leaves a stalled
 * job that another worker takes over, again from the cursor.
 */
@Processor(QUEUES.exchangeSync, { concurrency: 2, ...workerLockOptions() })
export class ExchangeSyncProcessor extends WorkerHost {
  constructor(
    private readonly sync: SyncService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super();
  }

  async process(job: Job<{ runId: number }>): Promise<SyncResult> {
    try {
      return await this.sync.run(job.data.runId);
    } catch (err) {
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      this.logger.warn({ err: (err as Error).message, runId: job.data.runId, attempt: job.attemptsMade + 1, last }, 'exchange sync attempt failed');
      if (last) await this.sync.fail(job.data.runId, err);
      throw err;
    }
  }

  /**
   * A job that stalled too often (its workers kept dying) is failed by BullMQ without process()
   * running: end its run too, or the connection would keep an open run and never sync again.
   */
  @OnWorkerEvent('failed')
  async onFailed(job: Job<{ runId: number }> | undefined, err: Error): Promise<void> {
    if (!job || !/stalled more than allowable limit/.test(err?.message ?? job.failedReason ?? '')) return;
    await this.sync.fail(job.data.runId, err).catch((e: unknown) => this.logger.warn({ err: (e as Error).message, runId: job.data.runId }, 'could not mark the stalled sync run failed'));
  }
}
