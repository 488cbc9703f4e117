import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { LOGGER } from '../../core/core.module';
import { APP_CONFIG } from '../../core/tokens';
import { QUEUES } from '../../queue/queues';
import { TableToQueue } from '../../queue/table-to-queue';
import { exportOptions } from './export-options';
import { BULK_EXPORT_CHANNEL, ExportRepository } from './export.repository';

const BATCH = 50;

/**
 * Hands accepted exports to the bulk-export queue (in the worker process), as the outbox relay
 * does for resource events (src/queue/table-to-queue.ts): the API only writes the export's row, so
 * a kick-off succeeds while Redis is down and is queued once it is back. The job id is the export
 * id, so handing one over twice still makes one job. Also removes expired exports, once a minute.
 */
@Injectable()
export class ExportDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly pump: TableToQueue;
  private lastCleanup = 0;

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Inject(LOGGER) logger: Logger, repo: ExportRepository) {
    this.pump = new TableToQueue(config, logger, {
      name: 'bulk export dispatcher',
      queue: QUEUES.bulkExport,
      channel: BULK_EXPORT_CHANNEL,
      pollMs: exportOptions().pollMs,
      beforeDrain: async () => {
        if (Date.now() - this.lastCleanup < 60_000) return;
        this.lastCleanup = Date.now();
        await repo.removeExpired();
      },
      drainBatch: async (publish) => {
        const moved = await repo.claimToEnqueue(BATCH, (ids) =>
          publish(
            ids.map((id) => ({
              name: 'export',
              data: { exportId: id },
              opts: { jobId: id, attempts: 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: { age: 24 * 3600, count: 1000 }, removeOnFail: false },
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

  kick(): void {
    this.pump.kick();
  }

  dispatch(): Promise<number> {
    return this.pump.drainAll();
  }

  onApplicationShutdown(): Promise<void> {
    return this.pump.stop();
  }
}
