import type { WalkOptions } from '../references/reference-rewriter';
import { searchParam } from '../search/search-parameters';
import { splitUnescaped, unescapeValue } from '../search/search-request';
import { capText } from '../search/search-values';
import type { TokenMatch } from '../search/search.service';

/** How a bundle walks an entry's links: a Bundle resource's own entries (a document's) are not the bundle's to resolve. */
export const ENTRY_LINKS: WalkOptions = { skipBundleEntries: true };

/** A conditional reference: `Type?criteria`. */
export const CONDITIONAL_REFERENCE = /^([A-Za-z]+)\?(.+)$/;

/**
 * The name of the advisory lock a conditional create holds while it matches: the type and the
 * criteria with their parameters sorted, so that equal criteria written differently share it. Pure.
 */
export function criteriaLockKey(resourceType: string, criteria: string): string {
  const key = [...new URLSearchParams(criteria).entries()]
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join('&');
  return `${resourceType}?${key}`;
}

/** A criteria `code=system|value`, its parts unescaped and capped as the search side compares them. */
export type TokenCriteria = TokenMatch;

/**
 * The criteria as one token search `code=system|value` (both parts present, one value, no
 * modifier, chain or control parameter), which a batch chunk can also evaluate against its own
 * unflushed writes (SearchIndexWriter.matchesToken); undefined for any other form. Pure.
 */
export function tokenCriteria(resourceType: string, criteria: string): TokenCriteria | undefined {
  const params = [...new URLSearchParams(criteria).entries()].filter(([k]) => !['_format', '_pretty'].includes(k));
  if (params.length !== 1) return undefined;
  const [name, raw] = params[0];
  if (!/^[a-z][a-z0-9-]*$/i.test(name)) return undefined;
  const def = searchParam(resourceType, name);
  if (!def || def.type !== 'token' || !def.atom) return undefined;
  if (splitUnescaped(raw, ',').length !== 1) return undefined;
  const parts = splitUnescaped(raw, '|');
  if (parts.length !== 2) return undefined;
  const [system, value] = parts.map((p) => capText(unescapeValue(p)));
  if (!system || !value) return undefined;
  return { code: def.code, system, value };
}

/**
 * The criteria with every value that is the fullUrl of an entry of the transaction (a `urn:uuid:`
 * or a RESTful fullUrl) replaced by that entry's `Type/id` (`_id` by the id alone), so that
 * `ifNoneExist: subject=urn:uuid:p1` and `PUT Observation?subject=urn:uuid:p1` mean the Patient the
 * transaction resolved (http.html#trules: matching links are replaced throughout the Bundle);
 * `unresolved` when a value names an entry whose identity is not known yet. Pure.
 */
export function resolveCriteriaUrls(
  criteria: string,
  resolved: ReadonlyMap<string, string>,
  pending: ReadonlySet<string>,
): { criteria: string } | { unresolved: string } {
  const params = new URLSearchParams(criteria);
  let changed = false;
  const out = new URLSearchParams();
  for (const [name, value] of params) {
    const parts = splitUnescaped(value, ',').map((part) => {
      const target = resolved.get(part);
      if (target === undefined) return part;
      changed = true;
      return name === '_id' || name.startsWith('_id:') ? target.slice(target.indexOf('/') + 1) : target;
    });
    const waiting = parts.find((part) => pending.has(part));
    if (waiting !== undefined) return { unresolved: waiting };
    out.append(name, parts.join(','));
  }
  return { criteria: changed ? out.toString() : criteria };
}
