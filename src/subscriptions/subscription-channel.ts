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

/**
 * `Observation?code=http://loinc.org|8867-4` → type and query; a bare type (`Observation`, or
 * `Observation?`) has an empty query and matches every resource of the type. Undefined when it is
 * not a search of a known type.
 */
export function parseCriteria(criteria: string | undefined): ParsedCriteria | undefined {
  const m = /^([A-Z][A-Za-z]+)(?:\?(.*))?$/.exec(criteria?.trim() ?? '');
  if (!m || !isResourceType(m[1])) return undefined;
  return { resourceType: m[1], query: m[2] ?? '' };
}

/** The criteria's query narrowed to one resource (`criteria&_id=<id>`), as the matcher and the write check run it. */
export function queryForId(criteria: ParsedCriteria, id: string): string {
  return [criteria.query, `_id=${encodeURIComponent(id)}`].filter(Boolean).join('&');
}

/**
 * What is wrong with a Subscription as a client submits it, in FHIR paths: criteria a search of a
 * known type (a bare type included); a channel this server delivers; a rest-hook endpoint an
 * absolute http(s) URL; a payload type it can send; headers as `Name: value`. Pure; the criteria's
 * parameters themselves are checked by the search engine.
 */
export function channelProblems(sub: Subscription): ChannelProblem[] {
  const problems: ChannelProblem[] = [];
  if (!parseCriteria(sub.criteria)) {
    problems.push({ path: 'Subscription.criteria', message: 'criteria must be a search of a resource type, e.g. "Observation?code=http://loinc.org|8867-4" or "Observation"' });
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
  if (channel.payload !== undefined && !isSupportedPayload(channel.payload)) {
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

const MIME_PARAMETERS_RE = /^([^;\s]+)((?:\s*;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+=[!#$%&'*+.^_`|~0-9A-Za-z-]+)*)\s*$/;

/**
 * A payload this server sends: one of SUPPORTED_PAYLOADS, any case, with or without MIME type
 * parameters (R4 http.html writes `application/fhir+json; fhirVersion=4.0`), which are sent as
 * given in the Content-Type, and so must be plain `name=value` tokens.
 */
function isSupportedPayload(payload: string): boolean {
  const m = MIME_PARAMETERS_RE.exec(payload.trim());
  return !!m && SUPPORTED_PAYLOADS.includes(m[1].toLowerCase());
}

/** Headers of a rest-hook channel as an object. */
export function channelHeaders(sub: Subscription): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of sub.channel?.header ?? []) {
    const split = splitHeader(h);
    if (split) out[split[0]] = split[1];
  }
  return out;
}

/** `Name: value` → name and value, trimmed; undefined without a name. */
function splitHeader(h: string): [string, string] | undefined {
  const i = h.indexOf(':');
  return i > 0 ? [h.slice(0, i).trim(), h.slice(i + 1).trim()] : undefined;
}

/**
 * The status a submitted Subscription is stored with. A client submits `requested` or `off`; the
 * server makes a valid `requested` one `active` (R4). Re-submitting the current status (a client
 * that PUTs back what it read) keeps it. One whose `end` has passed is stored `off`: R4 has the
 * server turn a Subscription off at its end, so it is never active after it.
 */
export function acceptedStatus(
  submitted: Subscription['status'],
  previous: Subscription['status'] | undefined,
  end?: string,
  now: number = Date.now(),
): Subscription['status'] | { refused: string } {
  const status = submitted === 'requested' ? 'active' : submitted === 'off' || submitted === previous ? submitted : undefined;
  if (!status) return { refused: `a client may submit a Subscription as "requested" or "off" (the server makes it active), not "${submitted}"` };
  return status === 'active' && end !== undefined && Date.parse(end) <= now ? 'off' : status;
}

/** Whether sockets may be bound to this Subscription and pinged for it: a websocket channel, active, not past its end. */
export function isLiveWebsocket(sub: Subscription, now: number): boolean {
  return sub.channel?.type === 'websocket' && sub.status === 'active' && !(sub.end && Date.parse(sub.end) <= now);
}

/**
 * What the answers to a non-administrator's writes show instead of a header's value
 * (AccessPolicy.redact): `Authorization: (hidden)`.
 */
export const MASKED_HEADER_VALUE = '(hidden)';

/**
 * The headers as they are to be stored: a header whose value is the mask (a client PUTting back
 * what its write was answered with) keeps the value stored under that name before (the n-th
 * header of a name takes the n-th previous one of that name, names compared case-insensitively);
 * a masked header with no previous value is a problem, not stored. Pure.
 */
export function unmaskedHeaders(headers: string[], previous: string[]): { headers: string[]; problems: ChannelProblem[] } {
  const before = new Map<string, string[]>();
  for (const [name, value] of previous.map(splitHeader).filter((x) => x !== undefined)) {
    before.set(name.toLowerCase(), [...(before.get(name.toLowerCase()) ?? []), value]);
  }
  const used = new Map<string, number>();
  const problems: ChannelProblem[] = [];
  const out = headers.map((h, index) => {
    const split = splitHeader(h);
    if (!split || split[1] !== MASKED_HEADER_VALUE) return h;
    const name = split[0];
    const n = used.get(name.toLowerCase()) ?? 0;
    used.set(name.toLowerCase(), n + 1);
    const kept = before.get(name.toLowerCase())?.[n];
    if (kept === undefined) {
      problems.push({ path: `Subscription.channel.header[${index}]`, message: `"${name}: ${MASKED_HEADER_VALUE}" stands for a value stored before, and there is none: send the header's real value` });
      return h;
    }
    return `${name}: ${kept}`;
  });
  return { headers: out, problems };
}
