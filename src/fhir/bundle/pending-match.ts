import type { Resource } from '@medplum/fhirtypes';
import { extractIndexRows, type IndexRows } from '../search/index-extractor';
import { clauseMatchesRows } from '../search/row-match';
import { searchParam } from '../search/search-parameters';
import { splitUnescaped, unescapeValue } from '../search/search-request';
import { criteriaLockKey, tokenCriteria } from './batch-criteria';

/** SearchIndexWriter.matchesToken: whether the resource, once indexed, matches `code=system|value`. */
export type TokenMatcher = (resource: Resource, code: string, system: string, value: string) => boolean;

/**
 * What decides the other parameter forms against a written resource's index rows (row-match.ts).
 * `settled`: whether the resource's references are final as written; a transaction rewrites
 * references to its entries (urn:uuid, fullUrls) and conditional ones only after its criteria are
 * matched, so reference parameters of a resource holding such a reference are left open.
 */
export interface RowMatching {
  base: string;
  settled(resource: Resource): boolean;
}

/**
 * Whether a resource a transaction is writing (not yet in the search index) matches criteria,
 * decided in memory: every parameter must hold (AND), each a `_id` or a token `code=system|value`
 * list (OR), or with `rowMatching` any form row-match.ts decides against the resource's index rows
 * (string, token, date, reference, uri). false as soon as one parameter is decided false;
 * undefined when a parameter of another form leaves it open (the database's answer stands for
 * it). Pure.
 */
export function matchesInMemory(resourceType: string, criteria: string, id: string, resource: Resource, matchesToken: TokenMatcher, rowMatching?: RowMatching): boolean | undefined {
  let verdict: boolean | undefined = true;
  const byRows = (name: string, value: string): boolean | undefined => {
    if (!rowMatching) return undefined;
    if (searchParam(resourceType, name.split(':')[0])?.type === 'reference' && !rowMatching.settled(resource)) return undefined;
    return clauseMatchesRows(resourceType, name, value, rowsOf(resource), rowMatching.base);
  };
  for (const [name, value] of new URLSearchParams(criteria)) {
    if (name === '_format' || name === '_pretty') continue;
    const one = paramMatches(resourceType, name, value, id, resource, matchesToken) ?? byRows(name, value);
    if (one === false) return false;
    if (one === undefined) verdict = undefined;
  }
  return verdict;
}

/** A written resource's index rows, made once however many criteria of the transaction look at it. */
const indexRows = new WeakMap<Resource, IndexRows>();

function rowsOf(resource: Resource): IndexRows {
  let rows = indexRows.get(resource);
  if (!rows) indexRows.set(resource, (rows = extractIndexRows(resource)));
  return rows;
}

function paramMatches(resourceType: string, name: string, value: string, id: string, resource: Resource, matchesToken: TokenMatcher): boolean | undefined {
  const alternatives = splitUnescaped(value, ',');
  if (name === '_id') return alternatives.map(unescapeValue).includes(id);
  for (const alternative of alternatives) {
    const token = tokenCriteria(resourceType, new URLSearchParams([[name, alternative]]).toString());
    if (!token) return undefined;
    if (matchesToken(resource, token.code, token.system, token.value)) return true;
  }
  return false;
}

/** A resource the transaction writes, as criteria evaluated after its entry see it. */
export interface PendingWrite {
  resourceType: string;
  id: string;
  resource: Resource;
  /** The entry's own criteria (ifNoneExist, conditional URL) as criteriaLockKey makes them: they match it. */
  criteria?: string;
}

/**
 * What a transaction's criteria see (http.html#transaction: DELETE, then POST, then PUT/PATCH):
 * the database's matches without the resources the transaction deletes, and the resources its
 * earlier entries write matched in memory in place of their stored versions.
 */
export class TransactionView {
  private readonly deleted = new Set<string>();
  private readonly written: PendingWrite[] = [];

  constructor(
    private readonly matchesToken: TokenMatcher,
    private readonly rowMatching?: RowMatching,
  ) {}

  delete(resourceType: string, id: string): void {
    this.deleted.add(`${resourceType}/${id}`);
  }

  write(w: PendingWrite): void {
    this.written.push(w);
  }

  /** The ids the criteria match, given the database's matches (before this transaction). */
  matches(resourceType: string, criteria: string, stored: string[]): string[] {
    const ids = stored.filter((id) => !this.deleted.has(`${resourceType}/${id}`));
    const key = criteriaLockKey(resourceType, criteria);
    for (const w of this.written) {
      if (w.resourceType !== resourceType) continue;
      // An entry's own criteria match what it writes (two identical conditional creates make one resource).
      const verdict = w.criteria === key ? true : matchesInMemory(resourceType, criteria, w.id, w.resource, this.matchesToken, this.rowMatching);
      if (verdict === undefined) continue; // undecidable here: the stored version's answer stands
      const at = ids.indexOf(w.id);
      if (at >= 0) ids.splice(at, 1);
      if (verdict) ids.push(w.id);
    }
    return ids;
  }
}
