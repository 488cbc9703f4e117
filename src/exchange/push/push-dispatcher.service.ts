import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { LOGGER } from '../../core/core.module';
import { APP_CONFIG } from '../../core/tokens';
import { QUEUES } from '../../queue/queues';
import { TableToQueue } from '../../queue/table-to-queue';
import { EXCHANGE_PUSH_CHANNEL, PushRepository, pushJobId } from './push.repository';

const BATCH = 100;
const POLL_MS = 5000;
/** First retry after this long, then doubling (BullMQ exponential backoff). */
export const PUSH_BACKOFF_MS = 1000;

/** The data of an exchange-push job. */
export interface PushJob {
  pushId: number;
}

/**
 * Hands pending pushes to the exchange-push queue (in the worker process), as the bulk export
 * dispatcher does: the trigger and the replay API only write rows, so nothing is lost while Redis
 * is down, and a replay is the row pending again (queued under a new job id, push-<id>-r<n>).
 */
@Injectable()
export class PushDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly pump: TableToQueue;

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Inject(LOGGER) logger: Logger, repo: PushRepository) {
    this.pump = new TableToQueue(config, logger, {
      name: 'exchange push dispatcher',
      queue: QUEUES.exchangePush,
      channel: EXCHANGE_PUSH_CHANNEL,
      pollMs: POLL_MS,
      drainBatch: async (publish) => {
        const moved = await repo.claimToEnqueue(BATCH, (rows) =>
          publish(
            rows.map((row) => ({
              name: 'push',
              data: { pushId: row.id } satisfies PushJob,
              opts: {
                jobId: pushJobId(row),
                attempts: config.exchangePushAttempts,
                backoff: { type: 'exponential', delay: PUSH_BACKOFF_MS },
                removeOnComplete: { age: 24 * 3600, count: 10_000 },
                removeOnFail: { age: 7 * 24 * 3600 },
              },
            })),
          ),
        );
        return { moved, full: moved >= BATCH };
      },
    });
  }

  onApplicationBootstrap(): Promise<void> {
    return this.pump.start();
  }

  dispatch(): Promise<number> {
    return this.pump.drainAll();
  }

  onApplicationShutdown(): Promise<void> {
    return this.pump.stop();
  }
}
