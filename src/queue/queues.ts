/**
 * The queues. Each must have exactly one processor in the worker process, which refuses to start
 * otherwise (workers/handler-check.ts).
 */
export const QUEUES = {
  /** Every committed resource change, from the outbox: the trigger for AI plugins. */
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

/** Deterministic job id: one job per resource version and action, however often the outbox is drained. */
export function resourceEventJobId(e: { resourceType: string; resourceId: string; versionId: number; action: string }): string {
  return `${e.action}/${e.resourceType}/${e.resourceId}/_history/${e.versionId}`;
}
