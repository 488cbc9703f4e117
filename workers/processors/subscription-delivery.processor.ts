import { Inject } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { LOGGER } from '../../src/core/core.module';
import { QUEUES } from '../../src/queue/queues';
import { workerLockOptions } from '../../src/queue/worker-lock-options';
import { SubscriptionDelivery, type DeliveryResult } from '../../src/subscriptions/subscription-delivery.service';
import type { SubscriptionNotification } from '../../src/subscriptions/subscription-notification';

/**
 * Delivers Subscription notifications. A failure is retried with backoff; after the last attempt
 * the Subscription is set to `error` with the reason, and the failed job stays visible.
 */
@Processor(QUEUES.subscriptionDeliveries, { concurrency: 8, ...workerLockOptions() })
export class SubscriptionDeliveryProcessor extends WorkerHost {
  constructor(
    private readonly delivery: SubscriptionDelivery,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super();
  }

  async process(job: Job<SubscriptionNotification>): Promise<DeliveryResult> {
    try {
      return await this.delivery.deliver(job.data);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      this.logger.warn({ jobId: job.id, attempt: job.attemptsMade + 1, last, reason }, 'subscription delivery failed');
      if (last) await this.delivery.markError(job.data.subscriptionId, reason);
      throw err;
    }
  }
}
