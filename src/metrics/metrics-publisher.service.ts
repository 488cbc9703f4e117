import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { REDIS, bullPrefix } from '../queue/redis.provider';
import { Metrics } from './metrics';

export const PUBLISH_EVERY_MS = 5_000;
/** A process that has not published for this long is gone; its entry is dropped. */
export const STALE_AFTER_MS = 4 * PUBLISH_EVERY_MS;

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];
export interface PublishedMetrics {
  at: number;
  metrics: MetricsSnapshot;
}

/** The Redis hash where every process leaves its latest metrics (one key: one Redis Cluster slot). */
export function metricsKey(queuePrefix: string): string {
  return `${bullPrefix(queuePrefix)}:metrics`;
}

/**
 * Publishes this process's metrics to Redis every few seconds, so that whichever API process
 * Prometheus scrapes can serve the metrics of every API and worker process. Skipped while Redis
 * is down (the numbers are kept in memory and published when it returns).
 */
@Injectable()
export class MetricsPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private readonly key: string;

  constructor(
    private readonly metrics: Metrics,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.key = metricsKey(config.queuePrefix);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.publish().catch(() => undefined), PUBLISH_EVERY_MS);
    this.timer.unref();
    void this.publish().catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    if (this.redis.status === 'ready') await this.redis.hdel(this.key, this.metrics.instance).catch(() => undefined);
  }

  async publish(): Promise<void> {
    if (this.redis.status !== 'ready') return;
    const entry: PublishedMetrics = { at: Date.now(), metrics: await this.metrics.registry.getMetricsAsJSON() };
    await this.redis.hset(this.key, this.metrics.instance, JSON.stringify(entry));
  }
}
