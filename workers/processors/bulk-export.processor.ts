import { Inject } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { LOGGER } from '../../src/core/core.module';
import { ExportRunner, type ExportRunResult } from '../../src/fhir/bulk/export-runner';
import { ExportRepository } from '../../src/fhir/bulk/export.repository';
import { exportOptions } from '../../src/fhir/bulk/export-options';
import { QUEUES } from '../../src/queue/queues';
import { workerLockOptions } from '../../src/queue/worker-lock-options';

/**
 * Runs Bulk Data exports, one at a time per worker (they are long and read a lot). A failed run
 * is retried by BullMQ; when the last attempt fails the export is marked failed, and its status
 * answers with the reason.
 */
@Processor(QUEUES.bulkExport, { concurrency: 1, ...workerLockOptions() })
export class BulkExportProcessor extends WorkerHost {
  constructor(
    private readonly runner: ExportRunner,
    private readonly repo: ExportRepository,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super();
  }

  async process(job: Job<{ exportId: string }>): Promise<ExportRunResult> {
    try {
      return await this.runner.run(job.data.exportId);
    } catch (err) {
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      this.logger.warn({ err, exportId: job.data.exportId, attempt: job.attemptsMade + 1, last }, 'bulk export failed');
      if (last) await this.repo.fail(job.data.exportId, `The export failed: ${(err as Error).message}`, exportOptions().retentionMs);
      throw err;
    }
  }
}
