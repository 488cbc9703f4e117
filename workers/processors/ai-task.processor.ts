import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { LOGGER } from '../../src/core/core.module';
import type { AiJob } from '../../src/ai/ai-plugin';
import { AiTaskRunner, type AiJobResult } from '../../src/ai/ai-task.runner';
import { ModelRegistry } from '../../src/ai/model-registry.service';
import { QUEUES } from '../../src/queue/queues';
import { Metrics } from '../../src/metrics/metrics';
import { workerLockOptions } from '../../src/queue/worker-lock-options';

/**
 * Runs AI jobs (one task on one resource version). A failure (bad input, a model that will not
 * load) fails the job with its reason, visible in the queue, and writes nothing; BullMQ retries it.
 */
@Processor(QUEUES.aiTasks, { concurrency: Number(process.env.AI_CONCURRENCY || 4), ...workerLockOptions() })
export class AiTaskProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly runner: AiTaskRunner,
    private readonly registry: ModelRegistry,
    private readonly metrics: Metrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super();
  }

  /** The built-in models are registered when a worker starts (idempotent). */
  async onApplicationBootstrap(): Promise<void> {
    await this.registry.seedBuiltIns();
  }

  async process(job: Job<AiJob>): Promise<AiJobResult> {
    const task = job.data.task;
    if (job.processedOn) this.metrics.aiJobWaitSeconds.observe({ task }, Math.max(0, job.processedOn - job.timestamp) / 1000);
    const stopTimer = this.metrics.aiJobSeconds.startTimer({ task });
    const result = await this.runner.run(job.data).catch((err: unknown) => {
      stopTimer();
      this.metrics.aiJobs.inc({ task, outcome: 'failed' });
      this.logger.warn({ err, jobId: job.id, attempt: job.attemptsMade + 1 }, 'ai task failed');
      throw err;
    });
    stopTimer();
    this.metrics.aiJobs.inc({ task, outcome: result.status });
    // Only outputs that hold a prediction: a "too little is known" RiskAssessment is a written job, not a prediction.
    if (result.status === 'written' && result.predicted) this.metrics.predictions.inc({ model: result.model, task });
    this.logger.debug({ jobId: job.id, result }, 'ai task');
    return result;
  }
}
