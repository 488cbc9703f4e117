import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/app-config';
import { LOGGER } from '../core/core.module';
import { APP_CONFIG } from '../core/tokens';
import { envInt } from '../config/env-int';
import { QUEUES, RESOURCE_EVENT_JOB_OPTIONS, resourceEventsJobId } from '../queue/queues';
import { TableToQueue } from '../queue/table-to-queue';
import { OUTBOX_CHANNEL, OutboxRepository, type ResourceEvent, type ResourceEventGroup } from './outbox.repository';

const BATCH = 500;
/**
 * Events per resource-events job. A prediction makes 3-5 events (the trigger, the output, its
 * Provenance, a recommendation...), most of which want nothing: one BullMQ job each cost more
 * (Redis round trips to add, fetch, complete; shared checks per job) than deciding that.
 */
export const EVENTS_PER_JOB = 32;

/**
 * Drains the outbox into the resource-events queue (src/queue/table-to-queue.ts): woken by NOTIFY
 * on commit, and polling as a safety net, so events written while Redis was down (or while no
 * relay ran) are published once it is back. A transaction's events go together, up to
 * EVENTS_PER_JOB per job; a job's id names its events, so publishing them twice (a crash between
 * add and mark, which claims the same transactions' events again) still makes one job.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly pump: TableToQueue;
  private lastCleanup = 0;

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Inject(LOGGER) logger: Logger, outbox: OutboxRepository) {
    const retentionHours = envInt(process.env, 'OUTBOX_RETENTION_HOURS', 168, 0, 100_000);
    this.pump = new TableToQueue(config, logger, {
      name: 'outbox relay',
      queue: QUEUES.resourceEvents,
      channel: OUTBOX_CHANNEL,
      pollMs: Number(process.env.OUTBOX_POLL_MS || 1000),
      beforeDrain: async () => {
        // Published events are kept OUTBOX_RETENTION_HOURS (0: for ever), then removed a slice at a time.
        if (!retentionHours || Date.now() - this.lastCleanup < 60_000) return;
        this.lastCleanup = Date.now();
        // Never in the way of publishing: a failure is logged and tried again a minute later.
        await outbox.removePublished(new Date(Date.now() - retentionHours * 3600_000)).catch((err: unknown) => logger.warn({ err }, 'outbox relay: could not remove published events'));
      },
      drainBatch: async (publish) => {
        const moved = await outbox.drain(BATCH, (groups) => publish(groups.flatMap(eventGroupJobs)));
        return { moved, full: moved >= BATCH };
      },
    });
  }

  onApplicationBootstrap(): Promise<void> {
    return this.pump.start();
  }

  /** Starts a drain unless one is running, in which case that one goes round once more. */
  kick(): void {
    this.pump.kick();
  }

  /** Publishes until the outbox is empty or Redis refuses. Returns how many events went out. */
  drainAll(): Promise<number> {
    return this.pump.drainAll();
  }

  onApplicationShutdown(): Promise<void> {
    return this.pump.stop();
  }
}

/** One transaction's events as jobs of up to EVENTS_PER_JOB events each. */
export function eventGroupJobs(events: ResourceEvent[]) {
  const jobs = [];
  for (let i = 0; i < events.length; i += EVENTS_PER_JOB) {
    const group = events.slice(i, i + EVENTS_PER_JOB);
    const data: ResourceEventGroup = { events: group };
    jobs.push({
      name: 'events',
      data,
      opts: {
        ...RESOURCE_EVENT_JOB_OPTIONS,
        jobId: resourceEventsJobId(group.map((e) => e.id)),
      },
    });
  }
  return jobs;
}
