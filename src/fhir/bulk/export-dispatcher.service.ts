import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Client } from 'pg';
import type { Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { LOGGER } from '../../core/core.module';
import { APP_CONFIG } from '../../core/tokens';
import { QUEUES } from '../../queue/queues';
import { bullPrefix, createRedis } from '../../queue/redis.provider';
import { exportOptions } from './export-options';
import { BULK_EXPORT_CHANNEL, ExportRepository } from './export.repository';

/**
 * Hands accepted exports to the bulk-export queue (in the worker process), as the outbox relay
 * does for resource events: the API only writes the export's row, so a kick-off succeeds while
 * Redis is down and is queued once it is back. Woken by NOTIFY, and polls. The job id is the
 * export id, so handing one over twice still makes one job. Also removes expired exports.
 */
@Injectable()
export class ExportDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private queue!: Queue;
  private connection!: Redis;
  private listener?: Client;
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = false;
  private lastCleanup = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly repo: ExportRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Fail fast while Redis is down rather than queue commands in memory: the rows wait in PostgreSQL.
    const connection = createRedis(this.config.redisUrl);
    connection.options.enableOfflineQueue = false;
    connection.options.maxRetriesPerRequest = 1;
    connection.on('error', () => undefined);
    this.connection = connection;
    this.queue = new Queue(QUEUES.bulkExport, { connection, prefix: bullPrefix(this.config.queuePrefix) });
    this.queue.on('error', () => undefined);
    await this.listen();
    this.timer = setInterval(() => this.kick(), exportOptions().pollMs);
    this.kick();
  }

  private async listen(): Promise<void> {
    try {
      const client = new Client({ connectionString: this.config.databaseUrl });
      client.on('notification', () => this.kick());
      client.on('error', () => {
        this.listener = undefined;
      });
      await client.connect();
      await client.query(`LISTEN ${BULK_EXPORT_CHANNEL}`);
      this.listener = client;
    } catch (e) {
      this.logger.warn({ err: e }, 'bulk export dispatcher could not LISTEN; polling only');
    }
  }

  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.dispatch().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  async dispatch(): Promise<number> {
    let total = 0;
    try {
      if (Date.now() - this.lastCleanup > 60_000) {
        this.lastCleanup = Date.now();
        await this.repo.removeExpired();
      }
      if (this.connection.status !== 'ready') throw new Error(`Redis is not ready (${this.connection.status})`);
      for (;;) {
        const n = await this.repo.claimToEnqueue(50, (ids) => this.publish(ids));
        total += n;
        if (n < 50) break;
      }
      if (!this.listener && !this.stopped) await this.listen();
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'bulk export dispatcher paused: accepted exports wait until the next attempt');
    }
    return total;
  }

  private async publish(ids: string[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('publishing to Redis took over 10000 ms')), 10_000);
    });
    try {
      await Promise.race([
        this.queue.addBulk(
          ids.map((id) => ({
            name: 'export',
            data: { exportId: id },
            opts: { jobId: id, attempts: 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: { age: 24 * 3600, count: 1000 }, removeOnFail: false },
          })),
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.listener?.end().catch(() => undefined);
    await this.queue?.close().catch(() => undefined);
    this.connection?.disconnect();
  }
}
