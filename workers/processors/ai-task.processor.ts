import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { LOGGER } from '../../src/core/core.module';
import type { AiJob } from '../../src/ai/ai-plugin';
import { AiTaskRunner, type AiJobResult } from '../../src/ai/ai-task.runner';
import { InputRefusedError } from '../../src/ai/input-refused';
import { ModelRegistry } from '../../src/ai/model-registry.service';
import { QUEUES } from '../../src/queue/queues';
import { Metrics } from '../../src/metrics/metrics';
import { workerLockOptions } from '../../src/queue/worker-lock-options';

/**
 * Runs AI jobs (one task on one resource version). A failure (a model that will not load, the
 * database away) fails the job with its reason, visible in the queue, and writes nothing; BullMQ
 * retries it. Refused input (InputRefusedError) fails at once: a retry would refuse it again. When
 * a job fails for good, the request Task that triggered it (`$triage`) is set to failed with the
 * reason.
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
    const result = await this.runner.run(job.data).catch(async (err: unknown) => {
      stopTimer();
      this.metrics.aiJobs.inc({ task, outcome: 'failed' });
      this.logger.warn({ err, jobId: job.id, attempt: job.attemptsMade + 1 }, 'ai task failed');
      const refused = err instanceof InputRefusedError;
      // attemptsMade counts the attempts before this one.
      if (refused || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await this.failedForGood(job, err);
      throw refused ? new UnrecoverableError(err.message) : err;
    });
    stopTimer();
    this.metrics.aiJobs.inc({ task, outcome: result.status });
    // Only outputs that hold a prediction: a "too little is known" RiskAssessment is a written job, not a prediction.
    if (result.status === 'written' && result.predicted) this.metrics.predictions.inc({ model: result.model, task });
    this.logger.debug({ jobId: job.id, result }, 'ai task');
    return result;
  }

  /** Tells the request Task (if a request triggered the job) why it will not be answered. */
  private async failedForGood(job: Job<AiJob>, err: unknown): Promise<void> {
    const reason = err instanceof Error ? err.message : String(err);
    await this.runner.failRequest(job.data, reason).catch((e: unknown) => this.logger.error({ err: e, jobId: job.id }, 'ai task: the failed request Task could not be marked failed'));
  }
}
