import { createHash } from 'node:crypto';

/**
 * The queues. Each must have exactly one processor in the worker process, which refuses to start
 * otherwise (workers/handler-check.ts).
 */
export const QUEUES = {
  /** Every committed resource change, from the outbox, a few dozen per job: the trigger for AI plugins, Subscriptions and pushes. */
  resourceEvents: 'resource-events',
  /** One AI task on one resource version, fanned out from resource events (deterministic job ids). */
  aiTasks: 'ai-tasks',
  /** One Bulk Data $export (job id: the export id), from the bulk_exports rows the API writes. */
  bulkExport: 'bulk-export',
  /** One notification of one Subscription about one resource version (deterministic job ids). */
  subscriptionDeliveries: 'subscription-deliveries',
  /** One push of a resource version to a connection (job id push-<rowId>, push-<rowId>-r<n> after a replay), from exchange_push rows. */
  exchangePush: 'exchange-push',
  /** One pull of one connection (job id sync-<runId>), from the exchange_sync_runs rows. */
  exchangeSync: 'exchange-sync',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Retries and retention of every resource-events job (a group of events, or one event retried alone). */
export const RESOURCE_EVENT_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential' as const, delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 10000 },
  removeOnFail: false,
};

/** The id of a job of one event (an event of a group that failed, retried alone): one per resource version and action. */
export function resourceEventJobId(e: { resourceType: string; resourceId: string; versionId: number; action: string }): string {
  return `${e.action}/${e.resourceType}/${e.resourceId}/_history/${e.versionId}`;
}

/**
 * The id of a job of several outbox events: named by their outbox ids (the first, the last and a
 * hash of all), so the same events published again (a crash between add and mark) make the same
 * job, and a different set never reuses an id.
 */
export function resourceEventsJobId(outboxIds: readonly string[]): string {
  const digest = createHash('sha1').update(outboxIds.join(',')).digest('hex').slice(0, 16);
  return `events/${outboxIds[0]}-${outboxIds[outboxIds.length - 1]}/${outboxIds.length}/${digest}`;
}
