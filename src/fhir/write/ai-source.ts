import type { Resource } from '@medplum/fhirtypes';
import { carryLexemes } from '../json/lexemes';

/**
 * The `meta.source` of what the AI worker writes (its outputs, recommendations, alerts, the
 * write-back onto a trigger). Only a write whose actor is the AI's may store it: the write path
 * takes it off every other writer's resource (`withoutClaimedAiSource`), so a stored version that
 * carries it was written by the AI. What triggers the AI is decided by the outbox actor instead.
 */
export const AI_SOURCE = 'urn:fhir-ai-server:ai-worker';

/** The actor of the AI worker's write transactions (`system:ai:<model or task>`). */
export const AI_ACTOR_PREFIX = 'system:ai:';

/** Whether a write transaction's actor is the AI worker. Pure. */
export function isAiActor(actor: string | null | undefined): boolean {
  return !!actor?.startsWith(AI_ACTOR_PREFIX);
}

/**
 * The resource as a writer other than the AI may store it: a `meta.source` naming the AI is
 * dropped (a resource read from the server and written back carries it; the AI did not write this
 * version). Any other `meta.source` is the client's to set and stays. Pure.
 */
export function withoutClaimedAiSource<T extends Resource>(resource: T, actor: string | null | undefined): T {
  if (resource.meta?.source !== AI_SOURCE || isAiActor(actor)) return resource;
  const { source: _source, ...meta } = resource.meta;
  const { meta: _meta, ...rest } = resource;
  const out = (Object.keys(meta).length ? { ...rest, meta } : rest) as T;
  carryLexemes(resource, out);
  return out;
}
