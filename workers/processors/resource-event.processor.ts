import { Inject } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { LOGGER } from '../../src/core/core.module';
import type { ResourceEvent } from '../../src/outbox/outbox.repository';
import { QUEUES } from '../../src/queue/queues';

/**
 * Receives every committed resource change. AI plugins subscribe to these events by resource type
 * and action; with no plugin interested, the job completes and says so in its return value.
 */
@Processor(QUEUES.resourceEvents, { concurrency: Number(process.env.WORKER_CONCURRENCY || 8) })
export class ResourceEventProcessor extends WorkerHost {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {
    super();
  }

  async process(job: Job<ResourceEvent>): Promise<{ handledBy: string[] }> {
    const e = job.data;
    this.logger.debug({ jobId: job.id, event: `${e.action} ${e.resourceType}/${e.resourceId}/_history/${e.versionId}` }, 'resource event');
    return { handledBy: [] };
  }
}
