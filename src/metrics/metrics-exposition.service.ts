import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { DatabaseService } from '../database/database.service';
import { ApiQueues } from '../queue/api-queues';
import { REDIS } from '../queue/redis.provider';
import { Metrics } from './metrics';
import { STALE_AFTER_MS, metricsKey, type MetricsSnapshot, type PublishedMetrics } from './metrics-publisher.service';

const JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused', 'prioritized', 'waiting-children'] as const;
const REDIS_TIMEOUT_MS = 1_000;

/**
 * What GET /metrics serves: this process's metrics, every other process's latest published
 * metrics (kept apart by their `instance` label), and the system-wide gauges read at scrape
 * time: jobs per queue and state, and the outbox's backlog (events committed but not yet queued).
 */
@Injectable()
export class MetricsExposition {
  private readonly key: string;

  constructor(
    private readonly metrics: Metrics,
    private readonly queues: ApiQueues,
    private readonly db: DatabaseService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.key = metricsKey(config.queuePrefix);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    const snapshots = [await this.metrics.registry.getMetricsAsJSON(), ...(await this.otherProcesses())];
    const processes = AggregatorRegistry.aggregate(snapshots) as Registry;
    const system = await this.systemGauges();
    const merged = Registry.merge([processes, system]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  private async otherProcesses(): Promise<MetricsSnapshot[]> {
    if (this.redis.status !== 'ready') return [];
    const entries = await withTimeout(this.redis.hgetall(this.key)).catch(() => ({}) as Record<string, string>);
    const fresh: MetricsSnapshot[] = [];
    const stale: string[] = [];
    for (const [instance, json] of Object.entries(entries)) {
      if (instance === this.metrics.instance) continue;
      const entry = JSON.parse(json) as PublishedMetrics;
      if (Date.now() - entry.at > STALE_AFTER_MS) stale.push(instance);
      else fresh.push(entry.metrics);
    }
    if (stale.length) await this.redis.hdel(this.key, ...stale).catch(() => undefined);
    return fresh;
  }

  private async systemGauges(): Promise<Registry> {
    const registry = new Registry();
    const redisUp = new Gauge({ name: 'fhir_redis_up', help: '1 when the queues could be read at scrape time', registers: [registry] });
    const jobs = new Gauge({ name: 'fhir_queue_jobs', help: 'Jobs per queue and state at scrape time', labelNames: ['queue', 'state'] as const, registers: [registry] });
    const outbox = new Gauge({ name: 'fhir_outbox_pending_events', help: 'Committed resource events not yet handed to the queues', registers: [registry] });
    const outboxAge = new Gauge({ name: 'fhir_outbox_oldest_pending_seconds', help: 'Age of the oldest event still in the outbox (0 when empty)', registers: [registry] });

    const [row] = await this.db.query<{ n: number; age: number | null }>(
      `SELECT count(*)::int AS n, extract(epoch FROM now() - min(created_at))::float8 AS age FROM outbox_events WHERE dispatched_at IS NULL`,
    );
    outbox.set(row?.n ?? 0);
    outboxAge.set(row?.age ?? 0);

    let up = this.redis.status === 'ready';
    if (up) {
      try {
        const counts = await withTimeout(Promise.all(this.queues.all.map((q) => q.getJobCounts(...JOB_STATES))));
        this.queues.all.forEach((q, i) => {
          for (const state of JOB_STATES) jobs.set({ queue: q.name, state }, counts[i][state] ?? 0);
        });
      } catch {
        up = false;
      }
    }
    redisUp.set(up ? 1 : 0);
    return registry;
  }
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${REDIS_TIMEOUT_MS} ms`)), REDIS_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}
