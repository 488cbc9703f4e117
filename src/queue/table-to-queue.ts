import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { Client } from 'pg';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/app-config';
import type { QueueName } from './queues';
import { bullPrefix, createRedis } from './redis.provider';

export interface QueueJob {
  name: string;
  data: unknown;
  opts: JobsOptions;
}

export interface TableToQueueOptions {
  /** For the logs. */
  name: string;
  queue: QueueName;
  /** The NOTIFY channel that says rows are waiting. */
  channel: string;
  pollMs: number;
  /**
   * Moves one batch of waiting rows to the queue: claims them (in a transaction of its own), hands
   * their jobs to `publish`, marks them; returns how many it moved (fewer than a batch: done).
   */
  drainBatch(publish: (jobs: QueueJob[]) => Promise<void>): Promise<{ moved: number; full: boolean }>;
  /** Run before each drain (housekeeping). */
  beforeDrain?: () => Promise<void>;
}

/** How long a drain waits for Redis to be ready before leaving the rows for the next attempt. */
const READY_TIMEOUT_MS = 2000;
/** Upper bound on one publish, so a drain never holds its transaction (and row locks) forever. */
export const PUBLISH_TIMEOUT_MS = 10000;

/**
 * Moves rows that PostgreSQL holds (the outbox, accepted exports) into a BullMQ queue: woken by
 * NOTIFY on a connection of its own (a pooler in transaction mode would not deliver it: see
 * DATABASE_DIRECT_URL), and polling as a safety net, so rows written while Redis was down are
 * queued once it is back. Never two drains at once: a wake-up during a drain makes it go round
 * once more. Its Redis connection fails fast while Redis is down (the rows wait in PostgreSQL
 * rather than in memory). Job ids are the callers' and deterministic, so a row queued twice (a
 * crash between add and mark) still makes one job.
 */
export class TableToQueue {
  private queue?: Queue;
  private connection?: Redis;
  private listener?: Client;
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly config: AppConfig,
    private readonly logger: Logger,
    private readonly opts: TableToQueueOptions,
  ) {}

  async start(): Promise<void> {
    const connection = createRedis(this.config.redisUrl);
    connection.options.enableOfflineQueue = false;
    connection.options.maxRetriesPerRequest = 1;
    connection.on('error', () => undefined);
    this.connection = connection;
    this.queue = new Queue(this.opts.queue, { connection, prefix: bullPrefix(this.config.queuePrefix) });
    this.queue.on('error', () => undefined);
    await this.listen();
    this.timer = setInterval(() => this.kick(), this.opts.pollMs);
    this.kick();
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

  /** Moves rows until none wait or Redis refuses. Returns how many went out. */
  async drainAll(): Promise<number> {
    let total = 0;
    try {
      await this.opts.beforeDrain?.();
      // BullMQ waits for a connection to be ready without limit: check first, outside the transaction.
      await this.redisReady();
      for (;;) {
        const { moved, full } = await this.opts.drainBatch((jobs) => this.publish(jobs));
        total += moved;
        if (!full) break;
      }
      if (!this.listener && !this.stopped) await this.listen();
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, `${this.opts.name} paused: rows wait in PostgreSQL until the next attempt`);
    }
    return total;
  }

  /** Which of these job ids the queue does not hold at all (lost with Redis's data, or removed by hand); [] before start. */
  async missingJobs(jobIds: readonly string[]): Promise<string[]> {
    const queue = this.queue;
    if (!queue || !jobIds.length) return [];
    await this.redisReady();
    const found = await Promise.all(jobIds.map((id) => queue.getJob(id)));
    return jobIds.filter((_, i) => !found[i]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.listener?.end().catch(() => undefined);
    await this.queue?.close().catch(() => undefined);
    // The queue was given this connection, so BullMQ treats it as shared and leaves it open.
    this.connection?.disconnect();
  }

  private async listen(): Promise<void> {
    try {
      const client = new Client({ connectionString: this.config.databaseDirectUrl });
      client.on('notification', () => this.kick());
      client.on('error', () => {
        this.listener = undefined;
      });
      await client.connect();
      await client.query(`LISTEN ${this.opts.channel}`);
      this.listener = client;
    } catch (e) {
      this.logger.warn({ err: e }, `${this.opts.name} could not LISTEN; polling only`);
    }
  }

  private redisReady(): Promise<void> {
    const connection = this.connection;
    if (!connection) return Promise.reject(new Error('not started'));
    if (connection.status === 'ready') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        connection.off('ready', onReady);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const timer = setTimeout(() => done(new Error(`Redis is not ready (${connection.status})`)), READY_TIMEOUT_MS);
      timer.unref(); // never what keeps a stopping process alive
      connection.once('ready', onReady);
    });
  }

  private async publish(jobs: QueueJob[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`publishing to Redis took over ${PUBLISH_TIMEOUT_MS} ms`)), PUBLISH_TIMEOUT_MS);
    });
    try {
      await Promise.race([(this.queue as Queue).addBulk(jobs), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
