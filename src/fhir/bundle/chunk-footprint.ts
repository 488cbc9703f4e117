import type { Resource } from '@medplum/fhirtypes';
import type { ParsedEntry } from './bundle-request';
import { collectReferences } from '../references/reference-rewriter';
import { CONDITIONAL_REFERENCE, ENTRY_LINKS, criteriaLockKey, tokenCriteria, type TokenCriteria } from './batch-criteria';

/**
 * What a batch chunk of plain creates could see of, or do to, a chunk written beside it: the
 * ifNoneExist locks it takes, the resources it creates, and the criteria it matches.
 */
export interface ChunkFootprint {
  locks: Set<string>;
  creates: Map<string, Resource[]>;
  criteria: Array<{ resourceType: string; token: TokenCriteria | undefined }>;
}

/**
 * The footprint of a chunk that may be written beside another, or undefined when it must wait for
 * the chunk before it: an entry that is not a create, a conditional reference, or a type that is
 * not `isolated` (one with write rules, which take their own locks entry by entry, or one that
 * belongs to a patient, whose writes share the patient's locks and hash chain). Pure.
 */
export function chunkFootprint(
  entries: ParsedEntry[],
  prepared: Map<ParsedEntry, Resource | undefined>,
  isolated: (resourceType: string) => boolean,
): ChunkFootprint | undefined {
  const footprint: ChunkFootprint = { locks: new Set(), creates: new Map(), criteria: [] };
  for (const e of entries) {
    const resource = prepared.get(e);
    if (e.method !== 'POST' || !resource || !isolated(e.resourceType)) return undefined;
    if (collectReferences(resource, ENTRY_LINKS).some(({ reference }) => CONDITIONAL_REFERENCE.test(reference))) return undefined;
    const made = footprint.creates.get(e.resourceType) ?? [];
    made.push(resource);
    footprint.creates.set(e.resourceType, made);
    if (e.ifNoneExist) {
      footprint.locks.add(criteriaLockKey(e.resourceType, e.ifNoneExist));
      footprint.criteria.push({ resourceType: e.resourceType, token: tokenCriteria(e.resourceType, e.ifNoneExist) });
    }
  }
  return footprint;
}

/**
 * Whether two chunks' writes could change each other's answers, so that they must run in order:
 * a lock in common, or criteria of one that a resource the other creates would match (criteria
 * other than `code=system|value` are assumed to match any resource of their type). `tokenKeys`
 * is SearchIndexWriter.tokenKeys; `key` makes a criteria's key the same way (tokenKey). Pure.
 */
export function chunksConflict(
  a: ChunkFootprint,
  b: ChunkFootprint,
  tokenKeys: (resource: Resource, code: string) => Set<string>,
  key: (system: string, value: string) => string,
): boolean {
  for (const k of a.locks) if (b.locks.has(k)) return true;
  const sees = (criteria: ChunkFootprint['criteria'], creates: ChunkFootprint['creates']) =>
    criteria.some(({ resourceType, token }) => {
      const made = creates.get(resourceType);
      if (!made) return false;
      if (!token) return true;
      const wanted = key(token.system, token.value);
      return made.some((r) => tokenKeys(r, token.code).has(wanted));
    });
  return sees(a.criteria, b.creates) || sees(b.criteria, a.creates);
}
