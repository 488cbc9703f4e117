import type { BundleEntry, Resource } from '@medplum/fhirtypes';
import type { Tx, TxContext } from '../../database/database.service';
import type { CriteriaAccess, SearchService } from '../search/search.service';
import type { SearchIndexWriter } from '../search/search-index.writer';
import type { ResourceStore, StoredVersion } from '../store/resource-store.repository';
import type { ResourceWriteService } from '../write/resource-write.service';
import type { ParsedEntry } from './bundle-request';
import { collectReferences, rewriteReferences } from '../references/reference-rewriter';
import { CONDITIONAL_REFERENCE, ENTRY_LINKS, criteriaLockKey, tokenCriteria, type TokenCriteria } from './batch-criteria';

/** Where an entry writes: an id, or (ifNoneExist matched) an existing resource, or (conditional DELETE) nothing. */
export interface Target {
  id?: string;
  /** ifNoneExist matched: nothing is created. */
  existing?: boolean;
  /** A conditional DELETE that matched nothing. */
  none?: boolean;
  /** The id was made by this server for the entry (a create): it exists only if the transaction commits. */
  made?: boolean;
}

/** Thrown inside a bulk chunk when it cannot be decided in bulk: the chunk is rolled back and rerun entry by entry. */
class BulkFallback extends Error {}

export interface BulkChunkDeps {
  writer: ResourceWriteService;
  search: SearchService;
  store: ResourceStore;
  searchIndex: SearchIndexWriter;
  /** The client's search rights, which its criteria are matched with. */
  criteria: CriteriaAccess;
}

/** How the bundle answers an entry: by running it through the write path, or (ifNoneExist matched) with the existing resource. */
export interface BulkChunkAnswers {
  execute(tx: Tx, e: ParsedEntry, target: Target, resource: Resource | undefined): Promise<BundleEntry>;
  existing(e: ParsedEntry, id: string, current: StoredVersion & { json: string }): BundleEntry;
}

/**
 * A chunk of batch entries (POSTs, PUTs by id) in one transaction without savepoints, its
 * statements per chunk rather than per entry: the conditional-create locks of all its
 * ifNoneExist criteria taken at once (sorted), every criteria (ifNoneExist and conditional
 * references) matched in one query before anything is written, the PUT targets locked and read
 * at once, the writes flushed together. An entry sees the chunk's earlier entries as it would
 * entry by entry: their writes replace the database's answer for the resources they wrote, and
 * are matched in memory against token criteria (`identifier=system|value`); any other criteria
 * on a type the chunk has written, several matches, or any error makes the whole chunk roll back
 * and returns undefined (the caller reruns it entry by entry, which reports each failure).
 */
export async function writeBulkChunk(
  deps: BulkChunkDeps,
  ctx: TxContext,
  entries: ParsedEntry[],
  prepared: Map<ParsedEntry, Resource | undefined>,
  answer: BulkChunkAnswers,
): Promise<BundleEntry[] | undefined> {
  const criteria = new Map<string, { resourceType: string; criteria: string; token?: TokenCriteria }>();
  const add = (key: string, resourceType: string, text: string) => {
    if (!criteria.has(key)) criteria.set(key, { resourceType, criteria: text, token: tokenCriteria(resourceType, text) });
  };
  for (const e of entries) {
    if (e.method === 'POST' && e.ifNoneExist) add(`${e.resourceType}?${e.ifNoneExist}`, e.resourceType, e.ifNoneExist);
    const resource = prepared.get(e);
    for (const { reference } of resource ? collectReferences(resource, ENTRY_LINKS) : []) {
      const m = CONDITIONAL_REFERENCE.exec(reference);
      if (m) add(reference, m[1], m[2]);
    }
  }
  try {
    return await deps.writer.inTransaction(ctx, async (tx) => {
      const locks = [...new Set(entries.filter((e) => e.method === 'POST' && e.ifNoneExist).map((e) => criteriaLockKey(e.resourceType, e.ifNoneExist as string)))].sort();
      if (locks.length) {
        await tx.query('SELECT count(pg_advisory_xact_lock(hashtextextended(k, 1))) FROM (SELECT k FROM unnest(?::text[]) AS k ORDER BY k) s', [locks]);
      }
      // Two rows are enough: a criteria matching several resources is decided entry by entry.
      const found = await deps.search.matchIdsMany(tx, [...criteria.values()], 2, deps.criteria);
      const stored = new Map([...criteria.keys()].map((k, i) => [k, found[i]]));
      await deps.writer.prefetch(
        tx,
        entries.filter((e) => e.method === 'PUT').map((e) => ({ resourceType: e.resourceType, id: e.id as string })),
      );
      const existing = await deps.store.readCurrentMany(
        entries
          .filter((e) => e.method === 'POST' && e.ifNoneExist)
          .flatMap((e) => (stored.get(`${e.resourceType}?${e.ifNoneExist}`) ?? []).map((id) => ({ resourceType: e.resourceType, id }))),
        tx,
      );
      const match = (resourceType: string, text: string): string[] => {
        const ids = stored.get(`${resourceType}?${text}`) ?? [];
        if (ids.length > 1) throw new BulkFallback();
        const changed = [...deps.writer.changedIn(tx)].filter(([k]) => k.startsWith(`${resourceType}/`));
        if (!changed.length) return ids;
        const token = criteria.get(`${resourceType}?${text}`)?.token;
        if (!token) throw new BulkFallback();
        const kept = ids.filter((id) => !deps.writer.changedIn(tx).has(`${resourceType}/${id}`));
        for (const [key, resource] of changed) {
          if (resource && deps.searchIndex.matchesToken(resource, token.code, token.system, token.value)) kept.push(key.slice(resourceType.length + 1));
        }
        return kept;
      };
      const out: BundleEntry[] = [];
      for (const e of entries) {
        const p = prepared.get(e);
        let target: Target = { id: e.method === 'PUT' ? e.id : p?.id };
        if (e.method === 'POST' && e.ifNoneExist) {
          const ids = match(e.resourceType, e.ifNoneExist);
          if (ids.length > 1) throw new BulkFallback();
          if (ids.length === 1) target = { id: ids[0], existing: true };
        }
        if (target.existing) {
          const key = `${e.resourceType}/${target.id}`;
          const current = deps.writer.changedIn(tx).has(key) ? await deps.writer.currentOf(tx, e.resourceType, target.id as string) : existing.get(key);
          if (!current?.json) throw new BulkFallback();
          out.push(answer.existing(e, target.id as string, { ...current, json: current.json }));
          continue;
        }
        const resource =
          p &&
          rewriteReferences(p, (reference) => {
            const m = CONDITIONAL_REFERENCE.exec(reference);
            if (m) {
              const ids = match(m[1], m[2]);
              if (ids.length !== 1) throw new BulkFallback();
              return `${m[1]}/${ids[0]}`;
            }
            if (/^urn:(uuid|oid):/.test(reference)) throw new BulkFallback();
            return undefined;
          }, ENTRY_LINKS);
        out.push(await answer.execute(tx, e, target, resource));
      }
      return out;
    });
  } catch {
    return undefined; // rolled back: rerun entry by entry, which answers each failure
  }
}
