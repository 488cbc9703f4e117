import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../../core/core.module';
import { SyncRunRepository } from '../sync-runs.repository';
import { pullOptions } from './pull-options';
import { PullRepository } from './pull.repository';

/**
 * Asks for a sync of every active connection with a sync interval whose last run is older than the
 * interval (in the worker process, every EXCHANGE_SYNC_SCHEDULE_MS). Several workers may do this at
 * once: SyncRunRepository.request admits one open run per connection, so they cannot start two.
 */
@Injectable()
export class SyncScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly repo: PullRepository,
    private readonly runs: SyncRunRepository,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), pullOptions().scheduleMs);
    this.timer.unref();
  }

  /** Requests the runs that are due; returns the connections asked for. */
  async tick(): Promise<string[]> {
    if (this.running) return [];
    this.running = true;
    try {
      const due = await this.repo.dueConnections();
      for (const id of due) await this.runs.request(id, 'schedule');
      return due;
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'exchange sync scheduler: will try again');
      return [];
    } finally {
      this.running = false;
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
