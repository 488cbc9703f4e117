import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Client } from 'pg';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/app-config';
import { LOGGER } from '../core/core.module';
import { APP_CONFIG } from '../core/tokens';
import { QUEUES, resourceEventJobId } from '../queue/queues';
import { bullPrefix, createRedis } from '../queue/redis.provider';
import { OUTBOX_CHANNEL, OutboxRepository, type ResourceEvent } from './outbox.repository';

/**
 * Drains the outbox into BullMQ. Woken by NOTIFY on commit, and polls as a safety net, so events
 * written while Redis was down (or while no relay ran) are published once it is back. Job ids are
 * deterministic, so publishing an event twice (a crash between add and mark) still makes one job.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  /** How long a drain waits for Redis to be ready before leaving the events for the next attempt. */
  static readonly READY_TIMEOUT_MS = 2000;
  /** Upper bound on one publish, so a drain never holds its transaction (and row locks) forever. */
  static readonly PUBLISH_TIMEOUT_MS = 10000;

  private queue!: Queue;
  private connection!: Redis;
  private listener?: Client;
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly outbox: OutboxRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Fail fast while Redis is down rather than queue commands in memory: the outbox keeps the events.
    const connection = createRedis(this.config.redisUrl);
    connection.options.enableOfflineQueue = false;
    connection.options.maxRetriesPerRequest = 1;
    connection.on('error', () => undefined);
    this.connection = connection;
    this.queue = new Queue(QUEUES.resourceEvents, { connection, prefix: bullPrefix(this.config.queuePrefix) });
    this.queue.on('error', () => undefined);
    await this.listen();
    this.timer = setInterval(() => this.kick(), Number(process.env.OUTBOX_POLL_MS || 1000));
    this.kick();
  }

  private async listen(): Promise<void> {
    try {
      // LISTEN needs a session of its own: a pooler in transaction mode would not deliver notifications.
      const client = new Client({ connectionString: this.config.databaseDirectUrl });
      client.on('notification', () => this.kick());
      client.on('error', () => {
        this.listener = undefined;
      });
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      this.listener = client;
    } catch (e) {
      this.logger.warn({ err: e }, 'outbox relay could not LISTEN; polling only');
    }
  }

  /** Starts a drain unless one is running, in which case that one goes round once more. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.drainAll().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Publishes until the outbox is empty or Redis refuses. Returns how many events went out. */
  async drainAll(): Promise<number> {
    let total = 0;
    try {
      // BullMQ waits for a connection to be ready without limit: check first, outside the transaction.
      await this.redisReady(OutboxRelay.READY_TIMEOUT_MS);
      for (;;) {
        const n = await this.outbox.drain(500, (events) => this.publish(events));
        total += n;
        if (n < 500) break;
      }
      if (!this.listener && !this.stopped) await this.listen();
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'outbox relay paused: events stay in the outbox until the next attempt');
    }
    return total;
  }

  private redisReady(timeoutMs: number): Promise<void> {
    const connection = this.connection;
    if (connection.status === 'ready') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        connection.off('ready', onReady);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const timer = setTimeout(() => done(new Error(`Redis is not ready (${connection.status})`)), timeoutMs);
      timer.unref(); // never what keeps a stopping process alive
      connection.once('ready', onReady);
    });
  }

  private async publish(events: ResourceEvent[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`publishing to Redis took over ${OutboxRelay.PUBLISH_TIMEOUT_MS} ms`)), OutboxRelay.PUBLISH_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.add(events), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async add(events: ResourceEvent[]): Promise<void> {
    await this.queue.addBulk(
      events.map((e) => ({
        name: `${e.action}:${e.resourceType}`,
        data: e,
        opts: {
          jobId: resourceEventJobId(e),
          attempts: 5,
          backoff: { type: 'exponential', delay: 1000 },
          removeOnComplete: { age: 24 * 3600, count: 10000 },
          removeOnFail: false,
        },
      })),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.listener?.end().catch(() => undefined);
    await this.queue?.close().catch(() => undefined);
    // The queue was given this connection, so BullMQ treats it as shared and leaves it open.
    this.connection?.disconnect();
  }
}
