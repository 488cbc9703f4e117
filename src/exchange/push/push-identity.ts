import type { Identifier, Resource } from '@medplum/fhirtypes';
import { identifierShape } from '../identity';
export { DEFAULT_OUR_SYSTEM, ourSystem } from '../identity';

/**
 * Whether a pushed resource carries our identity as an identifier (types with an identifier
 * array, as Device, RiskAssessment and Task) or, lacking one (Provenance), as a meta.tag.
 */
export function hasIdentifierElement(resourceType: string): boolean {
  return identifierShape(resourceType) === 'array';
}

/** Our identity of a local resource on a remote ("<Type>/<ourId>"), and the conditional-create criteria that find it there. Pure. */
export function pushIdentity(system: string, resourceType: string, id: string): { kind: 'identifier' | 'tag'; system: string; value: string; ifNoneExist: string } {
  const value = `${resourceType}/${id}`;
  const kind = hasIdentifierElement(resourceType) ? 'identifier' : 'tag';
  const param = kind === 'identifier' ? 'identifier' : '_tag';
  return { kind, system, value, ifNoneExist: `${param}=${encodeURIComponent(system)}|${encodeURIComponent(value)}` };
}

/** A resource with our identity added (identifier, or meta.tag), once. Pure. */
export function withIdentity<T extends Resource>(resource: T, system: string, id: string): T {
  const who = pushIdentity(system, resource.resourceType, id);
  if (who.kind === 'identifier') {
    const existing = ((resource as { identifier?: Identifier[] | Identifier }).identifier ?? []) as Identifier[] | Identifier;
    const list = Array.isArray(existing) ? existing : [existing];
    const others = list.filter((i) => !(i.system === who.system && i.value === who.value));
    return { ...resource, identifier: [...others, { system: who.system, value: who.value }] } as T;
  }
  const tags = (resource.meta?.tag ?? []).filter((t) => !(t.system === who.system && t.code === who.value));
  return { ...resource, meta: { ...(resource.meta ?? {}), tag: [...tags, { system: who.system, code: who.value }] } } as T;
}
