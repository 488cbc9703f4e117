import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import type { Tx } from '../database/database.service';
import { OperationOutcomeError, badRequest, outcome } from '../fhir/operation-outcome';
import { SearchService } from '../fhir/search/search.service';
import { WriteRules, type WriteRule, type WriteRuleContext } from '../fhir/write/write-rules';
import { acceptedStatus, channelProblems, parseCriteria, queryForId, unmaskedHeaders, type ChannelProblem } from './subscription-channel';
import { endpointRefusal } from './endpoint-guard';

const invalid = (problems: ChannelProblem[]): OperationOutcomeError =>
  new OperationOutcomeError(400, outcome(problems.map((p) => ({ severity: 'error', code: 'invalid', diagnostics: p.message, expression: [p.path] }))));

/** The actor of the server's own changes to a Subscription (recording a delivery error). */
export const SUBSCRIPTIONS_ACTOR = 'system:subscriptions';

/**
 * A Subscription is checked when it is written, so that a bad one is refused at once (400 naming
 * what is wrong) rather than failing silently later: the channel (subscription-channel.ts), the
 * criteria's parameters (by the search engine), and a rest-hook endpoint that does not point into
 * the server's own network. A valid `requested` Subscription is stored `active` (`off` when its
 * `end` has passed). A header sent back masked (`Name: (hidden)`, as a non-administrator's write
 * is answered) keeps the value stored before.
 */
@Injectable()
export class SubscriptionRule implements WriteRule, OnModuleInit {
  readonly name = 'subscription';
  readonly resourceTypes = ['Subscription'];

  constructor(
    private readonly rules: WriteRules,
    private readonly search: SearchService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.rules.add(this);
  }

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource> {
    const sub = resource as Subscription;
    const previous = ctx.previous as Subscription | undefined;
    if (ctx.actor === SUBSCRIPTIONS_ACTOR) return sub; // the server's own status change
    const problems = channelProblems(sub);
    if (problems.length) throw invalid(problems);
    const headers = unmaskedHeaders(sub.channel.header ?? [], previous?.channel?.header ?? []);
    if (headers.problems.length) throw invalid(headers.problems);
    const redirected = carriedToAnotherOrigin(headers.headers, sub, previous);
    if (redirected) throw invalid([redirected]);
    const criteria = parseCriteria(sub.criteria) as NonNullable<ReturnType<typeof parseCriteria>>;
    try {
      await this.search.matchIds(tx, criteria.resourceType, queryForId(criteria, 'subscription-check'), 1);
    } catch (e) {
      if (e instanceof OperationOutcomeError) throw badRequest(`Subscription.criteria: ${e.message}`, ['Subscription.criteria']);
      throw e;
    }
    if (sub.channel.type === 'rest-hook') {
      const refusal = await endpointRefusal(sub.channel.endpoint as string, this.config.subscriptionAllowPrivateEndpoints);
      if (refusal) throw badRequest(`Subscription.channel.endpoint: ${refusal}`, ['Subscription.channel.endpoint']);
    }
    const status = acceptedStatus(sub.status, previous?.status, sub.end);
    if (typeof status === 'object') throw badRequest(status.refused, ['Subscription.status']);
    const stored: Subscription = { ...sub, status, ...(sub.channel.header ? { channel: { ...sub.channel, header: headers.headers } } : {}) };
    if (status === 'active') delete stored.error;
    return stored;
  }
}

/**
 * Stored header values (credentials the writer may not be able to read: kept through the mask, or
 * carried over by a PATCH) must not follow the channel to another server: when the endpoint's
 * origin or the channel type changes, a header identical to a stored one is refused until its value
 * is sent again. A new path on the same server keeps them.
 */
function carriedToAnotherOrigin(headers: string[], sub: Subscription, previous: Subscription | undefined): ChannelProblem | undefined {
  const before = previous?.channel?.header ?? [];
  if (!previous || !before.length) return undefined;
  const origin = (url: string | undefined) => {
    try {
      return url ? new URL(url).origin : undefined;
    } catch {
      return undefined;
    }
  };
  const moved = sub.channel.type !== previous.channel?.type || origin(sub.channel.endpoint) !== origin(previous.channel?.endpoint);
  const kept = headers.findIndex((h) => before.includes(h));
  if (!moved || kept < 0) return undefined;
  return {
    path: `Subscription.channel.header[${kept}]`,
    message: 'The channel goes to another server now: the header values stored for the previous endpoint are not carried there; set new values, leave them out, or create a new Subscription',
  };
}
