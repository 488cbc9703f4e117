import type { Subscription } from '@medplum/fhirtypes';
import { isResourceType } from '../fhir/definitions/fhir-definitions';

/** The channels this server delivers (R4 also names email, sms and message, which it does not). */
export const SUPPORTED_CHANNELS = ['rest-hook', 'websocket'] as const;
export const SUPPORTED_PAYLOADS = ['application/fhir+json', 'application/json', 'application/fhir+xml', 'application/xml'];

export interface ParsedCriteria {
  resourceType: string;
  /** The query string, without the `?`. */
  query: string;
}

export interface ChannelProblem {
  path: string;
  message: string;
}

/** `Observation?code=http://loinc.org|8867-4` → type and query; undefined when it is not a search of a known type. */
export function parseCriteria(criteria: string | undefined): ParsedCriteria | undefined {
  const m = /^([A-Z][A-Za-z]+)\?(.+)$/.exec(criteria?.trim() ?? '');
  if (!m || !isResourceType(m[1])) return undefined;
  return { resourceType: m[1], query: m[2] };
}

/**
 * What is wrong with a Subscription as a client submits it, in FHIR paths: criteria a search of a
 * known type with at least one parameter; a channel this server delivers; a rest-hook endpoint an
 * absolute http(s) URL; a payload type it can send; headers as `Name: value`. Pure; the criteria's
 * parameters themselves are checked by the search engine.
 */
export function channelProblems(sub: Subscription): ChannelProblem[] {
  const problems: ChannelProblem[] = [];
  if (!parseCriteria(sub.criteria)) {
    problems.push({ path: 'Subscription.criteria', message: 'criteria must be a search of a resource type with parameters, e.g. "Observation?code=http://loinc.org|8867-4"' });
  }
  const channel = sub.channel;
  if (!channel || !(SUPPORTED_CHANNELS as readonly string[]).includes(channel.type)) {
    problems.push({ path: 'Subscription.channel.type', message: `channel.type "${channel?.type ?? ''}" is not supported: use ${SUPPORTED_CHANNELS.join(' or ')}` });
    return problems;
  }
  if (channel.type === 'rest-hook') {
    let url: URL | undefined;
    try {
      url = new URL(channel.endpoint ?? '');
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol)) {
      problems.push({ path: 'Subscription.channel.endpoint', message: 'a rest-hook needs an absolute http or https endpoint' });
    } else if (url.username || url.password) {
      problems.push({ path: 'Subscription.channel.endpoint', message: 'put credentials in channel.header, not in the endpoint URL' });
    }
  }
  if (channel.payload !== undefined && !SUPPORTED_PAYLOADS.includes(channel.payload)) {
    problems.push({ path: 'Subscription.channel.payload', message: `payload must be empty or one of ${SUPPORTED_PAYLOADS.join(', ')}` });
  }
  if (channel.type === 'websocket' && channel.payload !== undefined) {
    problems.push({ path: 'Subscription.channel.payload', message: 'a websocket channel sends "ping <id>" only: leave payload empty' });
  }
  (channel.header ?? []).forEach((h, i) => {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:\s?[^\r\n]*$/.test(h)) problems.push({ path: `Subscription.channel.header[${i}]`, message: 'a header must be "Name: value" on one line' });
  });
  return problems;
}

/** Headers of a rest-hook channel as an object. */
export function channelHeaders(sub: Subscription): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of sub.channel?.header ?? []) {
    const i = h.indexOf(':');
    if (i > 0) out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}

/**
 * The status a submitted Subscription is stored with. A client submits `requested` or `off`; the
 * server makes a valid `requested` one `active` (R4). Re-submitting the current status (a client
 * that PUTs back what it read) keeps it.
 */
export function acceptedStatus(submitted: Subscription['status'], previous: Subscription['status'] | undefined): Subscription['status'] | { refused: string } {
  if (submitted === 'requested') return 'active';
  if (submitted === 'off') return 'off';
  if (submitted === previous) return submitted;
  return { refused: `a client may submit a Subscription as "requested" or "off" (the server makes it active), not "${submitted}"` };
}
