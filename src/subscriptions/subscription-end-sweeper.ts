import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { LOGGER } from '../core/core.module';
import { DatabaseService } from '../database/database.service';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { ResourceWriteService } from '../fhir/write/resource-write.service';
import { SUBSCRIPTIONS_ACTOR } from './subscription.rule';

const SWEEP_EVERY_MS = 2000;

/**
 * R4 has the server turn a Subscription off at its `end`. Matching and delivery already skip an
 * ended one, but a client reading it (or searching `status=active`) must see `off` too: every few
 * seconds (in the workers), active Subscriptions whose end has passed are written `off` through
 * the write path, as the server's own change. Several workers racing write it once (If-Match).
 */
@Injectable()
export class SubscriptionEndSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: DatabaseService,
    private readonly store: ResourceStore,
    private readonly writer: ResourceWriteService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep().catch((e: unknown) => this.logger.warn({ err: e }, 'could not turn ended Subscriptions off')), SWEEP_EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Turns off the active Subscriptions whose end has passed; answers how many it turned off. */
  async sweep(now: number = Date.now()): Promise<number> {
    const rows = await this.db.query<{ id: string; end: string }>(
      `SELECT id, content->>'end' AS end FROM fhir_resource
        WHERE resource_type = 'Subscription' AND NOT deleted AND content->>'status' = 'active' AND content->>'end' IS NOT NULL`,
    );
    let turnedOff = 0;
    for (const { id, end } of rows) {
      if (!(Date.parse(end) <= now)) continue;
      const current = await this.store.readCurrent('Subscription', id);
      if (!current?.json || current.deleted) continue;
      const sub = JSON.parse(current.json) as Subscription;
      if (sub.status !== 'active') continue;
      await this.writer
        .update({ actor: SUBSCRIPTIONS_ACTOR }, 'Subscription', id, { ...sub, status: 'off' }, { ifMatch: `W/"${current.versionId}"` })
        .then(() => turnedOff++)
        .catch((e: unknown) => this.logger.debug({ err: e, subscriptionId: id }, 'ended Subscription not turned off (changed meanwhile)'));
    }
    return turnedOff;
  }
}
