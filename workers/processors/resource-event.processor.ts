import { Inject } from '@nestjs/common';
import { InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job, Queue } from 'bullmq';
import type { Logger } from 'pino';
import { LOGGER } from '../../src/core/core.module';
import type { AiJob } from '../../src/ai/ai-plugin';
import { AiTaskRunner, aiJobId } from '../../src/ai/ai-task.runner';
import type { ResourceEvent, ResourceEventGroup } from '../../src/outbox/outbox.repository';
import { QUEUES, RESOURCE_EVENT_JOB_OPTIONS, resourceEventJobId } from '../../src/queue/queues';
import { Metrics } from '../../src/metrics/metrics';
import type { AppConfig } from '../../src/config/app-config';
import { APP_CONFIG } from '../../src/core/tokens';
import { SubscriptionMatcher } from '../../src/subscriptions/subscription-matcher.service';
import { notificationJobId, type SubscriptionNotification } from '../../src/subscriptions/subscription-notification';
import { workerLockOptions } from '../../src/queue/worker-lock-options';
import { PushTrigger } from '../../src/exchange/push/push-trigger.service';
import { ResourceStore, type StoredVersion } from '../../src/fhir/store/resource-store.repository';

/** Events of one job fanned out at once (each may read a resource and add jobs; the pool has PG_POOL_MAX connections for all jobs). */
const FAN_OUTS_AT_ONCE = 4;

/** Promise.allSettled of `fn` over `items`, at most `width` at a time, results in the items' order. */
async function settledInTurns<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]).then(
        (value) => ({ status: 'fulfilled', value }) as const,
        (reason: unknown) => ({ status: 'rejected', reason }) as const,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return results;
}

/**
 * The current versions of a group's resources, all read in one statement when the first of them is
 * needed: a write's events usually all need reading or none does (the vital signs of one Bundle
 * each decide a triage; an AI output's events trigger nothing), and one statement for the group
 * costs about what one read does.
 */
export function groupReader(store: Pick<ResourceStore, 'readCurrentMany' | 'readCurrent'>, events: readonly ResourceEvent[]): (e: ResourceEvent) => Promise<StoredVersion | undefined> {
  let all: Promise<Map<string, StoredVersion>> | undefined;
  // Deletions are never read (no consumer acts on them).
  const keys = events.filter((x) => x.action !== 'delete').map((x) => ({ resourceType: x.resourceType, id: x.resourceId }));
  return (e) => {
    all ??= store.readCurrentMany(keys);
    // A failed group read is not shared: each event then reads (and, if that fails too, fails) on its own.
    return all.then(
      (found) => found.get(`${e.resourceType}/${e.resourceId}`),
      () => store.readCurrent(e.resourceType, e.resourceId),
    );
  };
}

/** `fn`'s promise, made on the first call and shared by the later ones. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/** What the fan-out did with one event. */
export interface FanOut {
  event: string;
  handledBy: string[];
  notified: string[];
}

/**
 * Receives the committed resource changes (jobs of up to EVENTS_PER_JOB outbox events) and fans
 * each out to the AI plugins it triggers (jobs of the ai-tasks queue) and to the Subscriptions it
 * matches (jobs of subscription-deliveries), with deterministic ids (a redelivered event adds
 * nothing new).
 *
 * Most events want nothing (the AI's own 3-4 writes per prediction trigger no plugin; few types
 * are subscribed or pushed), so each consumer first decides what it can without reading, and the
 * resource is read at most once, lazily, for all of them (a group's resources together: groupReader). The events of a job are fanned out a few
 * at a time; one that fails is queued again alone (under the id of its own event), so that it is
 * retried, and fails visibly, without holding up or repeating the others.
 */
@Processor(QUEUES.resourceEvents, { concurrency: Number(process.env.WORKER_CONCURRENCY || 8), ...workerLockOptions() })
export class ResourceEventProcessor extends WorkerHost {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly runner: AiTaskRunner,
    @InjectQueue(QUEUES.aiTasks) private readonly aiTasks: Queue,
    @InjectQueue(QUEUES.resourceEvents) private readonly resourceEvents: Queue,
    private readonly metrics: Metrics,
    private readonly subscriptions: SubscriptionMatcher,
    @InjectQueue(QUEUES.subscriptionDeliveries) private readonly deliveries: Queue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly push: PushTrigger,
    private readonly store: ResourceStore,
  ) {
    super();
  }

  async process(job: Job<ResourceEventGroup | ResourceEvent>): Promise<FanOut | { fannedOut: FanOut[]; retriedAlone: string[] }> {
    // Work begins after the events' commit: reads started from now on see everything they saw.
    const since = performance.now();
    if (!('events' in job.data)) {
      const e = job.data; // one event, retried alone
      const read = once(() => this.store.readCurrent(e.resourceType, e.resourceId));
      return this.fanOut(e, await this.aiJobsOf(e, job.id, read), since, job.id, read);
    }
    const events = job.data.events;
    const group = groupReader(this.store, events);
    const reads = events.map((e) => once(() => group(e)));
    // First the AI jobs of every event, so that a per-patient task (triage) is queued once for
    // the whole transaction (the vital signs of one Bundle), then each event's fan-out.
    const planned = await settledInTurns(events.map((e, i) => i), FAN_OUTS_AT_ONCE, (i) => this.aiJobsOf(events[i], job.id, reads[i]));
    const kept = this.runner.coalesce(planned.map((r) => (r.status === 'fulfilled' ? r.value : [])));
    const results = await settledInTurns(events.map((e, i) => i), FAN_OUTS_AT_ONCE, (i) => {
      const p = planned[i];
      return p.status === 'rejected' ? Promise.reject(p.reason) : this.fanOut(events[i], kept[i], since, job.id, reads[i]);
    });
    const failed = events.filter((_, i) => results[i].status === 'rejected');
    for (const e of failed) {
      await this.resourceEvents.add(`${e.action}:${e.resourceType}`, e, { ...RESOURCE_EVENT_JOB_OPTIONS, jobId: resourceEventJobId(e) });
    }
    return {
      fannedOut: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
      retriedAlone: failed.map(resourceEventJobId),
    };
  }

  /** The AI jobs an event calls for (before coalescing). `read`: the event's resource as it is now, read at most once. */
  private async aiJobsOf(e: ResourceEvent, jobId: string | undefined, read: () => Promise<StoredVersion | undefined>): Promise<AiJob[]> {
    this.metrics.resourceEvents.inc({ action: e.action });
    return this.runner.jobsFor(e, read).catch((err: unknown) => {
      this.logger.warn({ err, jobId, event: resourceEventJobId(e) }, 'resource event: could not fan out to the AI plugins');
      throw err;
    });
  }

  /** Queues the event's AI jobs (as coalesced), its Subscription notifications and its push. */
  private async fanOut(e: ResourceEvent, jobs: readonly AiJob[], since: number, jobId: string | undefined, read: () => Promise<StoredVersion | undefined>): Promise<FanOut> {
    const event = resourceEventJobId(e);
    for (const j of jobs) {
      await this.aiTasks.add(j.task, j, { jobId: aiJobId(j), attempts: 5, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: 10_000, removeOnFail: false });
    }
    const notify = await this.subscriptions.matching(e, since);
    for (const subscriptionId of notify) {
      const n: SubscriptionNotification = { subscriptionId, resourceType: e.resourceType, resourceId: e.resourceId, versionId: e.versionId };
      await this.deliveries.add('notify', n, {
        jobId: notificationJobId(n),
        attempts: this.config.subscriptionDeliveryAttempts,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: 10_000,
        removeOnFail: false,
      });
    }
    // To the patient's home EHR (an AI result, an approved recommendation): a row, queued by the push dispatcher.
    await this.push.onEvent(e, since, read);
    this.logger.debug({ jobId, event, ai: jobs.map((j) => j.task) }, 'resource event');
    return { event, handledBy: jobs.map((j) => j.task), notified: notify };
  }
}
