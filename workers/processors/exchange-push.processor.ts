import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import type { PushJob } from '../../src/exchange/push/push-dispatcher.service';
import { PushSender, type PushResult } from '../../src/exchange/push/push-sender.service';
import { QUEUES } from '../../src/queue/queues';
import { workerLockOptions } from '../../src/queue/worker-lock-options';

/**
 * Sends pushes to external EHRs. A transient failure throws (BullMQ retries with exponential
 * backoff up to EXCHANGE_PUSH_ATTEMPTS); a permanent one, or the last attempt, leaves the push
 * dead (the dead-letter list) and the job completes: the row holds the outcome.
 */
@Processor(QUEUES.exchangePush, { concurrency: 4, ...workerLockOptions() })
export class ExchangePushProcessor extends WorkerHost {
  constructor(private readonly sender: PushSender) {
    super();
  }

  process(job: Job<PushJob>): Promise<PushResult> {
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    return this.sender.send(job.data.pushId, last);
  }
}
