import { Inject, Injectable } from '@nestjs/common';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/app-config';
import { LOGGER } from '../core/core.module';
import { APP_CONFIG } from '../core/tokens';
import { resourceToXml } from '../fhir/rest/fhir-xml';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { ResourceWriteService } from '../fhir/write/resource-write.service';
import { REDIS, bullPrefix } from '../queue/redis.provider';
import { channelHeaders } from './subscription-channel';
import { endpointRefusal } from './endpoint-guard';
import { SUBSCRIPTIONS_ACTOR } from './subscription.rule';
import { websocketChannel, type SubscriptionNotification } from './subscription-notification';
import { parseFhirJson } from '../fhir/json/fhir-json';
import { stringifyFhirJson } from '../fhir/json/lexemes';

const TIMEOUT_MS = 10_000;

export type DeliveryResult = { status: 'delivered'; channel: string; httpStatus?: number } | { status: 'skipped'; reason: string };

/**
 * Sends one notification. rest-hook: without a payload, an empty POST to the endpoint; with one,
 * a PUT of the resource to `[endpoint]/[type]/[id]` (so the endpoint may be another FHIR server's
 * base), in the payload's format, with the channel's headers. websocket: `ping <id>` to the
 * clients bound to the Subscription, through the API processes (Redis pub/sub). A failure throws,
 * so BullMQ retries with backoff; `markError` records the last failure on the Subscription.
 */
@Injectable()
export class SubscriptionDelivery {
  constructor(
    private readonly store: ResourceStore,
    private readonly writer: ResourceWriteService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async deliver(n: SubscriptionNotification): Promise<DeliveryResult> {
    const current = await this.store.readCurrent('Subscription', n.subscriptionId);
    if (!current?.json || current.deleted) return { status: 'skipped', reason: 'the Subscription no longer exists' };
    const sub = JSON.parse(current.json) as Subscription;
    if (sub.status !== 'active') return { status: 'skipped', reason: `the Subscription is ${sub.status}` };
    if (sub.end && Date.parse(sub.end) <= Date.now()) return { status: 'skipped', reason: 'the Subscription has ended' };

    if (sub.channel.type === 'websocket') {
      await this.redis.publish(websocketChannel(bullPrefix(this.config.queuePrefix)), JSON.stringify(n));
      return { status: 'delivered', channel: 'websocket' };
    }
    const endpoint = (sub.channel.endpoint ?? '').replace(/\/+$/, '');
    const refusal = await endpointRefusal(endpoint, this.config.subscriptionAllowPrivateEndpoints);
    if (refusal) throw new Error(`rest-hook refused: ${refusal}`);
    const headers: Record<string, string> = { ...channelHeaders(sub), 'User-Agent': 'fhir-ai-server subscriptions' };
    let url = endpoint;
    let method = 'POST';
    let body: string | undefined;
    if (sub.channel.payload) {
      const version = await this.store.readVersion(n.resourceType, n.resourceId, n.versionId);
      if (!version?.json) return { status: 'skipped', reason: `${n.resourceType}/${n.resourceId}/_history/${n.versionId} is gone` };
      const resource = parseFhirJson(version.json) as Resource;
      url = `${endpoint}/${n.resourceType}/${encodeURIComponent(n.resourceId)}`;
      method = 'PUT';
      const xml = sub.channel.payload.toLowerCase().includes('xml');
      body = xml ? resourceToXml(resource) : stringifyFhirJson(resource);
      headers['Content-Type'] = sub.channel.payload;
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (e) {
      throw new Error(`rest-hook ${method} ${url} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status >= 300) throw new Error(`rest-hook ${method} ${url} answered ${res.status}`);
    return { status: 'delivered', channel: 'rest-hook', httpStatus: res.status };
  }

  /** After the last attempt: the Subscription goes to `error`, saying why (R4), and is not notified again until a client re-requests it. */
  async markError(subscriptionId: string, reason: string): Promise<void> {
    const current = await this.store.readCurrent('Subscription', subscriptionId);
    if (!current?.json || current.deleted) return;
    const sub = JSON.parse(current.json) as Subscription;
    if (sub.status !== 'active') return;
    const failed: Subscription = { ...sub, status: 'error', error: reason.slice(0, 1000) };
    await this.writer
      .update({ actor: SUBSCRIPTIONS_ACTOR }, 'Subscription', subscriptionId, failed, { ifMatch: `W/"${current.versionId}"` })
      .catch((e: unknown) => this.logger.warn({ err: e, subscriptionId }, 'could not record the Subscription error'));
  }
}
