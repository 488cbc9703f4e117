import { createHash } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { canonicalJson } from '../../fhir/canonical-json';
import type { IdentifierShape } from '../identity';

/** A resource on the remote server, by type and id. */
export interface RemoteRef {
  type: string;
  id: string;
}

export const refKey = (r: RemoteRef): string => `${r.type}/${r.id}`;

const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * The remote resource a reference names: `Type/id` (optionally `/_history/v`), or the same as an
 * absolute URL under the remote's base. Undefined for anything else: contained (`#x`), urn:,
 * conditional, or a resource on another server, which are kept as they are. Pure.
 */
export function parseRemoteReference(reference: string, baseUrl: string): RemoteRef | undefined {
  let relative = reference;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(reference)) {
    const base = `${baseUrl.replace(/\/+$/, '')}/`;
    if (!reference.startsWith(base)) return undefined;
    relative = reference.slice(base.length);
  }
  const m = RELATIVE.exec(relative);
  return m ? { type: m[1], id: m[2] } : undefined;
}

/** Every remote resource the resource refers to (contained resources included), once each, itself excluded. Pure. */
export function remoteReferencesOf(resource: Resource, baseUrl: string): RemoteRef[] {
  const found = new Map<string, RemoteRef>();
  walk(resource, (ref) => {
    const r = parseRemoteReference(ref.reference as string, baseUrl);
    if (r) found.set(refKey(r), r);
    return ref;
  });
  found.delete(`${resource.resourceType}/${resource.id ?? ''}`);
  return [...found.values()];
}

/**
 * Rewrites every Reference to a remote resource (at any depth, contained resources included)
 * through `localIdOf`: to `Type/<localId>` when the resource is here, else to a logical reference,
 * `identifier {system: baseUrl, value: "Type/remoteId"}` with a display, so that nothing points at
 * a resource this server does not have. Other references are kept. Returns a new resource. Pure.
 */
export function rewriteRemoteReferences<T extends Resource>(resource: T, baseUrl: string, localIdOf: (ref: RemoteRef) => string | undefined): T {
  return walk(resource, (ref) => {
    const remote = parseRemoteReference(ref.reference as string, baseUrl);
    if (!remote) return ref;
    const localId = localIdOf(remote);
    if (localId) return { ...ref, reference: `${remote.type}/${localId}` };
    const { reference: _dropped, ...rest } = ref;
    return {
      ...rest,
      identifier: (ref.identifier as unknown) ?? { system: baseUrl, value: refKey(remote) },
      display: (ref.display as unknown) ?? `${refKey(remote)} at ${baseUrl}`,
    };
  }) as T;
}

type Ref = Record<string, unknown> & { reference: string };

function walk(value: unknown, onReference: (ref: Ref) => Record<string, unknown>): unknown {
  if (Array.isArray(value)) return value.map((v) => walk(v, onReference));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) out[key] = walk(v, onReference);
  return typeof out.reference === 'string' ? onReference(out as Ref) : out;
}

/** How a type carries identifiers: an array, a single one, or none (e.g. Provenance). */

/**
 * The resource to store for a remote one (its references already rewritten): without the remote
 * id and the remote's meta.versionId/lastUpdated, with `meta.source = <base>/<Type>/<remoteId>`
 * and, when the type has one, the identifier `{system: base, value: "Type/remoteId"}` (a single
 * identifier the remote already set is kept: the mapping row is the authority then). Pure.
 */
export function pulledForm(remote: Resource, baseUrl: string, identifier: IdentifierShape): Resource {
  const { id, meta, ...rest } = remote as Resource & Record<string, unknown>;
  const value = `${remote.resourceType}/${id ?? ''}`;
  const { versionId: _v, lastUpdated: _l, source: _s, ...keptMeta } = meta ?? {};
  const out: Record<string, unknown> = { ...rest, meta: { ...keptMeta, source: `${baseUrl}/${value}` } };
  const ours = { system: baseUrl, value };
  if (identifier === 'array') {
    const existing = Array.isArray(rest.identifier) ? (rest.identifier as Array<{ system?: string; value?: string }>) : [];
    out.identifier = [...existing.filter((i) => !(i.system === ours.system && i.value === ours.value)), ours];
  } else if (identifier === 'single' && !rest.identifier) {
    out.identifier = ours;
  }
  return out as unknown as Resource;
}

/** SHA-256 of the remote resource as received, without meta: equal hashes mean nothing changed remotely. Pure. */
export function contentSha256(remote: Resource): Buffer {
  const { meta: _meta, ...rest } = remote;
  return createHash('sha256').update(canonicalJson(rest)).digest();
}

/**
 * Our own id when the remote resource is one this server pushed there (exchange-shared
 * convention: identifier `{system: ours, value: "Type/ourId"}`, or a meta.tag with that system and
 * code for types without identifier), else undefined: such a resource is not pulled back as a copy. Pure.
 */
export function ownIdOf(remote: Resource, ourSystem: string): string | undefined {
  const prefix = `${remote.resourceType}/`;
  const raw = (remote as { identifier?: unknown }).identifier;
  const identifiers = (Array.isArray(raw) ? raw : raw ? [raw] : []) as Array<{ system?: string; value?: string }>;
  const tags = remote.meta?.tag ?? [];
  const values = [...identifiers.filter((i) => i.system === ourSystem).map((i) => i.value), ...tags.filter((t) => t.system === ourSystem).map((t) => t.code)];
  for (const v of values) {
    const id = v?.startsWith(prefix) ? v.slice(prefix.length) : undefined;
    if (id && /^[A-Za-z0-9\-.]{1,64}$/.test(id)) return id;
  }
  return undefined;
}
