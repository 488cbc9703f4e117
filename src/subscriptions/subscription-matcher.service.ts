import { Injectable } from '@nestjs/common';
import type { Subscription } from '@medplum/fhirtypes';
import { DatabaseService } from '../database/database.service';
import { SearchService } from '../fhir/search/search.service';
import type { ResourceEvent } from '../outbox/outbox.repository';
import { FreshRead } from '../outbox/fresh-read';
import { parseCriteria, queryForId, type ParsedCriteria } from './subscription-channel';

interface ActiveSubscription extends ParsedCriteria {
  id: string;
}

/**
 * Which active Subscriptions a committed change matches. The criteria are applied to the new
 * version, as R4 says (so there is no notification for a deletion, nor for an update that no
 * longer matches). The active Subscriptions are kept in memory and reloaded whenever a
 * Subscription changed: one indexed max() tells, shared by the events whose work began before
 * it started (FreshRead), so a Subscription committed before an event is never missed.
 */
@Injectable()
export class SubscriptionMatcher {
  private loaded?: { stamp: string; byType: Map<string, ActiveSubscription[]> };
  private readonly stamps = new FreshRead(() => this.readStamp());

  constructor(
    private readonly db: DatabaseService,
    private readonly search: SearchService,
  ) {}

  /** `since`: when the event's work began (performance.now(), after its commit); default: now. */
  async matching(event: Pick<ResourceEvent, 'resourceType' | 'resourceId' | 'action'>, since: number = performance.now()): Promise<string[]> {
    if (event.action === 'delete') return [];
    const candidates = (await this.active(since)).get(event.resourceType) ?? [];
    const matched: string[] = [];
    for (const s of candidates) {
      const ids = await this.search.matchIds(this.db, s.resourceType, queryForId(s, event.resourceId), 1).catch(() => []);
      if (ids.length) matched.push(s.id);
    }
    return matched;
  }

  private async readStamp(): Promise<string> {
    const [{ stamp }] = await this.db.queryPrepared<{ stamp: string }>(
      `SELECT coalesce(max(last_updated)::text, '') || ':' || count(*) AS stamp FROM fhir_resource WHERE resource_type = 'Subscription'`,
    );
    return stamp;
  }

  private async active(since: number): Promise<Map<string, ActiveSubscription[]>> {
    const stamp = await this.stamps.get(since);
    if (this.loaded?.stamp === stamp) return this.loaded.byType;
    const rows = await this.db.query<{ content: Subscription }>(
      `SELECT content FROM fhir_resource WHERE resource_type = 'Subscription' AND NOT deleted AND content->>'status' = 'active'`,
    );
    const byType = new Map<string, ActiveSubscription[]>();
    const now = Date.now();
    for (const { content: sub } of rows) {
      const c = parseCriteria(sub.criteria);
      if (!c || !sub.id || (sub.end && Date.parse(sub.end) <= now)) continue;
      byType.set(c.resourceType, [...(byType.get(c.resourceType) ?? []), { id: sub.id, ...c }]);
    }
    this.loaded = { stamp, byType };
    return byType;
  }
}
