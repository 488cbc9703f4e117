import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { LOGGER } from '../../src/core/core.module';
import type { AiJob } from '../../src/ai/ai-plugin';
import { AiTaskRunner, type AiJobResult } from '../../src/ai/ai-task.runner';
import { ModelRegistry } from '../../src/ai/model-registry.service';
import { QUEUES } from '../../src/queue/queues';

/**
 * Runs AI jobs (one task on one resource version). A failure (bad input, a model that will not
 * load) fails the job with its reason, visible in the queue, and writes nothing; BullMQ retries it.
 */
@Processor(QUEUES.aiTasks, { concurrency: Number(process.env.AI_CONCURRENCY || 4) })
export class AiTaskProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly runner: AiTaskRunner,
    private readonly registry: ModelRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super();
  }

  /** The built-in models are registered when a worker starts (idempotent). */
  async onApplicationBootstrap(): Promise<void> {
    await this.registry.seedBuiltIns();
  }

  async process(job: Job<AiJob>): Promise<AiJobResult> {
    const result = await this.runner.run(job.data).catch((err: unknown) => {
      this.logger.warn({ err, jobId: job.id, attempt: job.attemptsMade + 1 }, 'ai task failed');
      throw err;
    });
    this.logger.debug({ jobId: job.id, result }, 'ai task');
    return result;
  }
}
