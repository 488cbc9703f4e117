import { Inject, Injectable } from '@nestjs/common';
import type { Bundle, BundleEntry, BundleEntryResponse, Resource } from '@medplum/fhirtypes';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { LOGGER } from '../../core/core.module';
import type { Logger } from 'pino';
import type { Tx, TxContext } from '../../database/database.service';
import { clientCopyIsCurrent } from '../read/conditional-read';
import { OperationOutcomeError, badRequest, notFound, outcome, preconditionFailed } from '../operation-outcome';
import { SearchService, type CriteriaAccess } from '../search/search.service';
import { SearchIndexWriter, tokenKey } from '../search/search-index.writer';
import { shapeForRead } from '../search/result-shape';
import { ResourceStore } from '../store/resource-store.repository';
import { PatchService } from '../write/patch.service';
import { ResourceWriteService, storable } from '../write/resource-write.service';
import { ValidationPool } from '../definitions/validation-pool';
import { parseBundle, type ParsedEntry } from './bundle-request';
import { AccessPolicy, type VisibleResource } from '../../auth/access/access-policy';
import type { Permission } from '../../auth/access/scopes';
import type { AuthContext } from '../../auth/auth.types';
import { collectReferences, rewriteReferences } from '../references/reference-rewriter';
import { CONDITIONAL_REFERENCE, ENTRY_LINKS, criteriaLockKey, resolveCriteriaUrls } from './batch-criteria';
import { writeBulkChunk, type Target } from './bulk-chunk';
import { runChunks } from './chunk-pipeline';
import { chunkFootprint, chunksConflict } from './chunk-footprint';
import { WriteRules } from '../write/write-rules';
import { patientCompartmentPaths } from '../definitions/fhir-definitions';
import { newResourceId } from '../store/resource-id';
import { TransactionView } from './pending-match';
import { nameEntry, namedFailure } from './entry-errors';
import { parseFhirJson } from '../json/fhir-json';
import { parseLocalReference } from '../search/search-values';

export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

/** Processing order of a transaction (FHIR R4 3.1.0.11.2): DELETE, POST, PUT/PATCH, then GET/HEAD. */
const ORDER: Record<ParsedEntry['method'], number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };


const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content' };

/** Batch entries per database transaction. */
const BATCH_CHUNK = 50;
/** After this many chunks of one batch failed their bulk attempt, the rest go entry by entry. */
const BULK_ATTEMPT_FAILURES = 2;


/**
 * Batch and transaction Bundles. A transaction is all or nothing in one database transaction:
 * identities are resolved first (new ids, ifNoneExist, conditional targets), then every reference
 * to a bundle entry (urn:uuid or fullUrl) and every conditional reference is rewritten to a server
 * id, then the entries run in the order the specification gives. A batch runs each entry on its
 * own, reporting each failure in its response entry.
 */
@Injectable()
export class BundleService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly writer: ResourceWriteService,
    private readonly store: ResourceStore,
    private readonly search: SearchService,
    private readonly patcher: PatchService,
    private readonly access: AccessPolicy,
    private readonly searchIndex: SearchIndexWriter,
    private readonly validation: ValidationPool,
    private readonly rules: WriteRules,
  ) {}

  async process(ctx: TxContext, body: unknown, fhirBase: string, ret: ReturnPreference, auth?: AuthContext): Promise<Bundle> {
    const { type, entries } = parseBundle(body, fhirBase, { maxEntries: this.config.maxBundleEntries });
    const scope = new EntryAccess(this.access, auth);
    if (type === 'transaction') for (const e of entries) atEntry(e, () => scope.check(e)); // all or nothing: refuse before any work
    if (type === 'batch') return this.batch(ctx, entries, fhirBase, ret, scope);
    const entry = await this.transaction(ctx, entries, fhirBase, ret, atEntry, scope, true);
    return { resourceType: 'Bundle', type: 'transaction-response', ...(entry.length ? { entry } : {}) };
  }

  /**
   * One REST interaction (conditional create/update/delete, PATCH) run exactly as a one-entry
   * transaction, so that REST and bundles share their semantics; errors are not prefixed with an entry.
   */
  async runOne(ctx: TxContext, e: Omit<ParsedEntry, 'index'>, fhirBase: string, ret: ReturnPreference, auth?: AuthContext): Promise<BundleEntry> {
    const scope = new EntryAccess(this.access, auth);
    const entry = { ...e, index: 0 };
    scope.check(entry);
    // A conditional reference is resolved only in a transaction or batch Bundle (http.html#trules), not in a conditional create or update.
    const conditional = e.method === 'POST' || e.method === 'PUT' ? firstConditionalReference(e.resource) : undefined;
    if (conditional) throw badRequest(`${conditional.path}: "${conditional.reference}" is a conditional reference, which is resolved only inside a transaction or batch Bundle`, [conditional.path]);
    const [response] = await this.transaction(ctx, [entry], fhirBase, ret, (_e, fn) => fn(), scope, false);
    return response;
  }

  private async transaction(
    ctx: TxContext,
    entries: ParsedEntry[],
    base: string,
    ret: ReturnPreference,
    atEntry: EntryScope,
    scope: EntryAccess,
    inBundle: boolean,
  ): Promise<BundleEntry[]> {
    const checked = await this.prepareEntries(entries);
    const prepared = entries.map((e, i) => atEntry(e, () => unwrap(checked[i])));
    const responses: BundleEntry[] = new Array(entries.length);
    const targets = new Map<number, Target>();
    const written = new Map<number, Resource>(); // each entry's resource as written, its references resolved
    const run = async (tx: Tx): Promise<void> => {
      // The entries with their criteria resolved against the other entries' identities.
      const view = new TransactionView((r, code, system, value) => this.searchIndex.matchesToken(r, code, system, value), { base, settled: referencesSettled(entries) });
      const { fullUrls, entries: resolved } = await this.resolveTargets(tx, entries, prepared, atEntry, scope, view, targets);
      const resolve = await this.referenceResolver(tx, resolved, prepared, fullUrls, true, atEntry, scope, view);
      const ordered = [...resolved].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index);
      // Lock and read every resource the transaction changes in one round trip, not one per entry.
      await this.writer.prefetch(
        tx,
        resolved
          .filter((e) => e.method === 'PUT' || e.method === 'PATCH' || e.method === 'DELETE')
          .map((e) => ({ resourceType: e.resourceType, id: targets.get(e.index)?.id as string }))
          .filter((k) => k.id),
      );
      for (const e of ordered) {
        if (e.method === 'GET' || e.method === 'HEAD') await this.writer.flush(tx); // reads see the writes before them
        const resource =
          prepared[e.index] &&
          // A uri/url/canonical/uuid element holding an entry's urn:uuid fullUrl names that entry too
          // (http.html#trules). Absolute and urn:oid values are left alone: they are also canonical
          // URLs and code systems, which a server id would break (a CodeSystem entry whose fullUrl is its url).
          rewriteReferences(prepared[e.index] as Resource, {
            reference: (ref, path) => resolve(e, ref, path),
            uri: (value) => (value.startsWith('urn:uuid:') ? fullUrls.get(value) : undefined),
          }, ENTRY_LINKS);
        if (resource && e.method !== 'PATCH') written.set(e.index, resource);
        responses[e.index] = await atEntry(e, () => this.execute(tx, e, targets.get(e.index) as Target, resource, base, ret, scope));
      }
    };
    try {
      await this.writer.inTransaction(ctx, run);
    } catch (err) {
      // Failures found at the end (the integrity checks at commit) are named after their entry too.
      throw inBundle ? namedFailure(err, entries, targets, written) : err;
    }
    return responses;
  }

  /**
   * A batch: every entry on its own. Entries share database transactions (one commit per
   * BATCH_CHUNK entries, not one per entry). A chunk of creates and updates by id is first tried in
   * bulk (bulkChunk): matched, written and flushed together like a transaction's entries. If that
   * fails for any reason, or cannot be decided in bulk, the chunk is rolled back and rerun with
   * each entry in a savepoint with its deferred checks at its end, so a failing entry is rolled
   * back alone and reported in its response entry. Chunks stay small because PostgreSQL slows down
   * once a transaction holds more than 64 subtransactions.
   */
  private async batch(ctx: TxContext, entries: ParsedEntry[], base: string, ret: ReturnPreference, scope: EntryAccess): Promise<Bundle> {
    let bulkFailures = 0;
    // Access and validation need no database: their failures are answered without a transaction.
    // The next chunk is validated (on the validation threads) while this one is written (runChunks).
    const check = async (chunk: ParsedEntry[]) => {
      const answers = new Map<ParsedEntry, BundleEntry>();
      /** Runs fn for the entry; an OperationOutcome it throws becomes the entry's answer. */
      const passes = (e: ParsedEntry, fn: () => unknown): boolean => {
        try {
          atEntry(e, fn);
          return true;
        } catch (err) {
          if (!(err instanceof OperationOutcomeError)) throw err;
          answers.set(e, { response: { status: `${err.status}`, outcome: err.outcome } });
          return false;
        }
      };
      const prepared = new Map<ParsedEntry, Resource | undefined>();
      try {
        const allowed = chunk.filter((e) => passes(e, () => {
          if (e.invalid) throw e.invalid;
          scope.check(e);
        }));
        const results = await this.prepareEntries(allowed);
        allowed.forEach((e, i) => passes(e, () => prepared.set(e, unwrap(results[i]))));
      } catch (err) {
        // An unexpected failure before anything is written (e.g. the validation threads): this chunk's
        // entries answer it; the batch goes on.
        this.logger.error({ err, requestId: ctx.requestId, entries: chunk.map((e) => e.index) }, 'a batch chunk could not be checked');
        const response = internalError(`Not written: entries ${span(chunk)} of this batch could not be checked`, ctx.requestId);
        for (const e of chunk) if (!answers.has(e)) answers.set(e, { response });
        prepared.clear();
      }
      return { answers, prepared };
    };
    // A resource's token keys, once per code: chunk pairs compare up to 50 criteria with 50 creates.
    const keysOf = new WeakMap<Resource, Map<string, Set<string>>>();
    const tokenKeys = (resource: Resource, code: string): Set<string> => {
      const byCode = keysOf.get(resource) ?? new Map<string, Set<string>>();
      keysOf.set(resource, byCode);
      let keys = byCode.get(code);
      if (!keys) byCode.set(code, (keys = this.searchIndex.tokenKeys(resource, code)));
      return keys;
    };
    const chunks: ParsedEntry[][] = [];
    for (let start = 0; start < entries.length; start += BATCH_CHUNK) chunks.push(entries.slice(start, start + BATCH_CHUNK));
    let failedChunk: string | undefined; // the entries (first-last) of a chunk whose transaction failed unexpectedly
    const answered = await runChunks(chunks, {
      prepare: check,
      // Side by side only when neither chunk can see the other's writes (chunk-footprint.ts).
      footprint: ({ prepared }) => chunkFootprint([...prepared.keys()], prepared, (type) => this.isolatedType(type)),
      conflict: (a, b) => chunksConflict(a, b, tokenKeys, tokenKey),
      write: async (chunk, { answers, prepared }) => {
        const ready = chunk.filter((e) => prepared.has(e));
        if (failedChunk) {
          // An earlier chunk's transaction failed unexpectedly (most often the database is gone): the
          // rest is not attempted, rather than each chunk waiting for its own failure.
          const response = internalError(`Not attempted: entries ${failedChunk} of this batch failed in the database first`, ctx.requestId);
          for (const e of ready) answers.set(e, { response });
        } else {
          try {
            await this.writeChunk(ctx, ready, answers, prepared, base, ret, scope, () => bulkFailures < BULK_ATTEMPT_FAILURES, () => bulkFailures++);
          } catch (err) {
            // The chunk's transaction failed as a whole (a lost connection, a failed commit, a bug).
            // Chunks committed before it stay committed, so the batch still answers 200 with every
            // entry's own outcome rather than a 500 that would hide what was written.
            this.logger.error({ err, requestId: ctx.requestId, entries: ready.map((e) => e.index) }, 'a batch chunk failed');
            const response = chunkFailed(ready, err, ctx.requestId);
            for (const e of ready) answers.set(e, { response });
            if (!(err instanceof OperationOutcomeError)) failedChunk ??= span(ready);
          }
        }
        return chunk.map((e) => answers.get(e) as BundleEntry);
      },
    });
    const responses = answered.flat();
    return { resourceType: 'Bundle', type: 'batch-response', ...(responses.length ? { entry: responses } : {}) };
  }

  /**
   * Whether creates of this type can be written beside another chunk's: no write rules (which take
   * locks entry by entry) and not a patient's (whose writes share the patient's locks and EHR chain;
   * a Provenance may belong to the patient of its target, a Binary to that of its securityContext).
   */
  private isolatedType(type: string): boolean {
    return !this.rules.has(type) && type !== 'Patient' && type !== 'Provenance' && type !== 'Binary' && patientCompartmentPaths(type).length === 0;
  }

  /** Writes a batch chunk's valid entries: in bulk if it may, else entry by entry in savepoints; each answer lands in `answers`. */
  private async writeChunk(
    ctx: TxContext,
    ready: ParsedEntry[],
    answers: Map<ParsedEntry, BundleEntry>,
    prepared: Map<ParsedEntry, Resource | undefined>,
    base: string,
    ret: ReturnPreference,
    scope: EntryAccess,
    mayTryBulk: () => boolean,
    bulkFailed: () => void,
  ): Promise<void> {
    const tryBulk = mayTryBulk() && ready.length > 1 && ready.every((e) => e.method === 'POST' || (e.method === 'PUT' && e.id));
    const bulk = tryBulk ? await this.bulkChunk(ctx, ready, prepared, base, ret, scope) : undefined;
    if (tryBulk && !bulk) bulkFailed();
    if (bulk) ready.forEach((e, i) => answers.set(e, bulk[i]));
    else if (ready.length) {
      await this.writer.inTransaction(ctx, async (tx) => {
        for (const e of ready) {
          try {
            answers.set(
              e,
              await this.writer.inSavepoint(tx, async () => {
                const target = await atEntry(e, () => this.resolveTarget(tx, e, prepared.get(e), scope));
                const resolve = await this.referenceResolver(tx, [e], [prepared.get(e)], new Map(), false, atEntry, scope);
                const p = prepared.get(e);
                const resource = p && rewriteReferences(p, (ref, path) => resolve(e, ref, path), ENTRY_LINKS);
                return atEntry(e, () => this.execute(tx, e, target, resource, base, ret, scope));
              }),
            );
          } catch (err) {
            if (err instanceof OperationOutcomeError) {
              answers.set(e, { response: { status: `${err.status}`, outcome: err.outcome } });
              continue;
            }
            // Not a refusal (an unmapped database error, a bug): the entry was rolled back to its
            // savepoint, and if the transaction still works it fails alone; else the chunk does.
            if (!(await tx.query('SELECT 1').then(() => true, () => false))) throw err;
            this.logger.error({ err, requestId: ctx.requestId, entry: e.index }, 'a batch entry failed');
            answers.set(e, { response: internalError(`Not written: entry ${e.index} failed`, ctx.requestId) });
          }
        }
      });
    }
  }

  /** A chunk of batch entries written in bulk (bulk-chunk.ts), or undefined when it must be rerun entry by entry. */
  private bulkChunk(
    ctx: TxContext,
    entries: ParsedEntry[],
    prepared: Map<ParsedEntry, Resource | undefined>,
    base: string,
    ret: ReturnPreference,
    scope: EntryAccess,
  ): Promise<BundleEntry[] | undefined> {
    return writeBulkChunk(
      { writer: this.writer, search: this.search, store: this.store, searchIndex: this.searchIndex, criteria: scope.criteria() },
      ctx,
      entries,
      prepared,
      {
        execute: (tx, e, target, resource) => this.execute(tx, e, target, resource, base, ret, scope),
        existing: (e, id, current) => entry(base, e.resourceType, id, 200, current.versionId, current.lastUpdated, scope.redact(parseFhirJson(current.json) as Resource), ret),
      },
    );
  }

  /**
   * Each entry's resource (POST/PUT) with a provisional id, validated (on the validation threads
   * when there are many), or the error that refuses it; PATCH bodies are checked when applied.
   */
  private async prepareEntries(entries: ParsedEntry[]): Promise<Prepared[]> {
    const out = entries.map((e): Prepared => {
      try {
        if (e.method === 'POST') return { resource: storable(e.resource, newResourceId()) };
        if (e.method === 'PUT') return { resource: storable(e.resource, e.id ?? e.resource?.id ?? newResourceId()) };
        return { resource: e.resource };
      } catch (err) {
        if (!(err instanceof OperationOutcomeError)) throw err;
        return { error: err };
      }
    });
    const toValidate = entries.flatMap((e, i) => (!out[i].error && (e.method === 'POST' || e.method === 'PUT') ? [i] : []));
    const verdicts = await this.validation.validateMany(toValidate.map((i) => ({ resource: out[i].resource, type: entries[i].resourceType })));
    toValidate.forEach((i, k) => {
      const error = verdicts[k];
      if (error) out[i] = { error };
    });
    return out;
  }

  /**
   * The identity of every entry (new ids, ifNoneExist and conditional matches), in processing order
   * (DELETE, POST, PUT/PATCH, GET), each entry's criteria seeing the transaction as it stands by
   * then (`view`: without what it deletes, with what earlier entries write); criteria naming another
   * entry's fullUrl (`ifNoneExist: subject=urn:uuid:p1`) are read once that entry's identity is
   * known, with the fullUrl replaced by it. Fills `targets` (by entry index) as it goes, so that a
   * failure can be named; returns the entries with their criteria so rewritten, and the fullUrls
   * of the entries that change a resource.
   */
  private async resolveTargets(
    tx: Tx,
    entries: ParsedEntry[],
    prepared: Array<Resource | undefined>,
    atEntry: EntryScope,
    scope: EntryAccess,
    view: TransactionView,
    targets: Map<number, Target>,
  ): Promise<{ fullUrls: Map<string, string>; entries: ParsedEntry[] }> {
    const fullUrls = new Map<string, string>();
    const written = new Map<string, number>();
    const pending = new Set(entries.map((e) => e.fullUrl).filter((u): u is string => !!u));
    const out = [...entries];
    let queue = [...entries].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index);
    while (queue.length) {
      const waiting: Array<{ e: ParsedEntry; on: string }> = [];
      for (const entry of queue) {
        const e = withResolvedCriteria(entry, fullUrls, pending);
        if ('on' in e) {
          waiting.push({ e: entry, on: e.on });
          continue;
        }
        out[out.indexOf(entry)] = e;
        const target = await atEntry(e, () => this.resolveTarget(tx, e, prepared[e.index], scope, view));
        targets.set(e.index, target);
        this.seeEntry(view, e, target, prepared[e.index]);
        if (e.fullUrl) pending.delete(e.fullUrl);
        if (target.id && (e.method === 'POST' || e.method === 'PUT' || e.method === 'PATCH' || e.method === 'DELETE')) {
          const key = `${e.resourceType}/${target.id}`;
          const other = written.get(key);
          if (other !== undefined && !target.existing) {
            throw nameEntry(badRequest(`this entry and Bundle.entry[${other}] both change ${key}; a transaction may change a resource once`), e);
          }
          if (!target.existing) written.set(key, e.index);
          if (e.fullUrl) fullUrls.set(e.fullUrl, key);
        }
      }
      if (waiting.length === queue.length) {
        const { e, on } = waiting[0];
        throw nameEntry(badRequest(`its criteria name ${on}, an entry whose own identity cannot be settled first (a cycle)`), e);
      }
      queue = waiting.map((w) => w.e);
    }
    return { fullUrls, entries: out };
  }

  /** What later entries' criteria see of this one: the resource it deletes, or the one it writes. */
  private seeEntry(view: TransactionView, e: ParsedEntry, target: Target, prepared: Resource | undefined): void {
    if (!target.id || target.existing) return;
    if (e.method === 'DELETE' && !target.none) view.delete(e.resourceType, target.id);
    const criteria = e.method === 'POST' ? e.ifNoneExist : e.method === 'PUT' ? e.criteria : undefined;
    if ((e.method === 'POST' || e.method === 'PUT') && prepared) {
      view.write({
        resourceType: e.resourceType,
        id: target.id,
        resource: { ...prepared, id: target.id },
        ...(criteria !== undefined ? { criteria: criteriaLockKey(e.resourceType, criteria) } : {}),
      });
    }
  }

  /** The entry's target; `view` (a transaction's) adjusts the criteria's matches for what the transaction has changed before it. */
  private async resolveTarget(tx: Tx, e: ParsedEntry, prepared: Resource | undefined, scope: EntryAccess, view?: TransactionView): Promise<Target> {
    const match = async (criteria: string) => {
      const ids = await this.matchLocked(tx, e.resourceType, criteria, scope);
      return view ? view.matches(e.resourceType, criteria, ids) : ids;
    };
    if (e.method === 'POST') {
      if (e.ifNoneExist) {
        const ids = await match(e.ifNoneExist);
        if (ids.length > 1) throw preconditionFailed(`ifNoneExist ${e.resourceType}?${e.ifNoneExist} matches ${ids.length} resources`);
        if (ids.length === 1) return { id: ids[0], existing: true };
      }
      return { id: prepared?.id, made: true };
    }
    if (e.method === 'GET' || e.method === 'HEAD') return { id: e.id };
    if (e.id) return { id: e.id };
    const ids = await match(e.criteria ?? '');
    if (ids.length > 1) throw preconditionFailed(`${e.method} ${e.resourceType}?${e.criteria} matches ${ids.length} resources; it must match one`);
    if (ids.length === 1) {
      if (e.method === 'PUT' && prepared?.id && e.resource?.id && e.resource.id !== ids[0]) {
        throw badRequest(`The resource's id ${e.resource.id} differs from the one the criteria match (${ids[0]})`);
      }
      return { id: ids[0] };
    }
    if (e.method === 'PUT') return { id: prepared?.id, made: e.resource?.id === undefined };
    if (e.method === 'DELETE') return { none: true };
    throw notFound(`${e.method} ${e.resourceType}?${e.criteria} matches no resource`);
  }

  /** Matches criteria holding a lock on them, so two concurrent conditional creates cannot both create. */
  private async matchLocked(tx: Tx, resourceType: string, criteria: string, scope: EntryAccess): Promise<string[]> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 1))', [criteriaLockKey(resourceType, criteria)]);
    return this.search.matchIds(tx, resourceType, criteria, 1000, scope.criteria());
  }

  /**
   * Resolves, ahead of the synchronous rewrite, every conditional reference (`Type?criteria`) of
   * the entries, and returns the resolver: bundle-internal references (urn:uuid, fullUrl) map to the
   * server ids chosen for their entries; a urn that names no entry is an error.
   */
  private async referenceResolver(
    tx: Tx,
    entries: ParsedEntry[],
    resources: Array<Resource | undefined>,
    fullUrls: Map<string, string>,
    internal: boolean,
    atEntry: EntryScope,
    scope: EntryAccess,
    view?: TransactionView,
  ): Promise<(e: ParsedEntry, reference: string, path: string) => string | undefined> {
    const wanted: Array<{ e: ParsedEntry; reference: string; path: string; resourceType: string; criteria: string }> = [];
    const seen = new Set<string>();
    for (const e of entries) {
      const resource = resources[entries.indexOf(e)];
      if (!resource || e.method === 'PATCH') continue;
      for (const { reference, path } of collectReferences(resource, ENTRY_LINKS)) {
        const m = CONDITIONAL_REFERENCE.exec(reference);
        if (!m || seen.has(reference)) continue;
        seen.add(reference);
        wanted.push({ e, reference, path, resourceType: m[1], criteria: m[2] });
      }
    }
    // All of them in one round trip; if any criteria is malformed, one by one so that the error names its entry.
    let found: string[][] | undefined;
    if (wanted.length > 1) found = await this.search.matchIdsMany(tx, wanted, 1000, scope.criteria()).catch((err: unknown) => (err instanceof OperationOutcomeError ? undefined : Promise.reject(err)));
    const conditional = new Map<string, string>();
    for (const [i, { e, reference, path, resourceType, criteria }] of wanted.entries()) {
      const stored = found ? found[i] : await atEntry(e, () => this.search.matchIds(tx, resourceType, criteria, 1000, scope.criteria()));
      // A transaction's conditional references see it whole: not what it deletes, and what it writes.
      const ids = view ? view.matches(resourceType, criteria, stored) : stored;
      const where = `Bundle.entry[${e.index}].resource ${path}`;
      if (ids.length === 0) throw nameEntry(badRequest(`Conditional reference ${reference} at ${where} matches no resource`), e);
      if (ids.length > 1) throw nameEntry(preconditionFailed(`Conditional reference ${reference} at ${where} matches ${ids.length} resources`), e);
      conditional.set(reference, `${resourceType}/${ids[0]}`);
    }
    const byTail = entriesByRelativeUrl(fullUrls);
    return (e, reference, path) => {
      const found =
        fullUrls.get(reference) ??
        conditional.get(reference) ??
        // An entry with a RESTful fullUrl reads relative references against its base only.
        (RESTFUL_URL.test(e.fullUrl ?? '') ? fullUrls.get(againstEntryBase(e.fullUrl, reference) ?? '') : byTail.get(reference));
      if (found) return found;
      if (/^urn:(uuid|oid):/.test(reference)) {
        throw nameEntry(
          badRequest(
            internal
              ? `${path} references ${reference}, which is not the fullUrl of any entry in this Bundle`
              : `${path} references ${reference}; entries of a batch cannot reference each other`,
          ),
          e,
        );
      }
      return undefined;
    };
  }

  private async execute(
    tx: Tx,
    e: ParsedEntry,
    target: Target,
    resource: Resource | undefined,
    base: string,
    ret: ReturnPreference,
    scope: EntryAccess,
  ): Promise<BundleEntry> {
    const type = e.resourceType;
    switch (e.method) {
      case 'POST': {
        if (target.existing) {
          // The match may be another entry's resource, written in this transaction but not flushed yet.
          const current = this.writer.changedIn(tx).has(`${type}/${target.id}`)
            ? await this.writer.currentOf(tx, type, target.id as string)
            : await this.store.readCurrent(type, target.id as string, tx);
          if (!current?.json) throw notFound(`${type}/${target.id} disappeared`);
          return entry(base, type, target.id as string, 200, current.versionId, current.lastUpdated, scope.redact(parseFhirJson(current.json) as Resource), ret);
        }
        const r = await this.writer.createInTx(tx, { ...(resource as Resource), id: target.id });
        return entry(base, type, target.id as string, r.status, r.versionId, r.lastUpdated, scope.redact(r.resource), ret);
      }
      case 'PUT': {
        const r = await this.writer.updateInTx(tx, { ...(resource as Resource), id: target.id }, { ifMatch: e.ifMatch });
        return entry(base, type, target.id as string, r.status, r.versionId, r.lastUpdated, scope.redact(r.resource), ret);
      }
      case 'PATCH': {
        const r = await this.patcher.patchInTx(tx, type, target.id as string, resource, { ifMatch: e.ifMatch });
        return entry(base, type, target.id as string, r.status, r.versionId, r.lastUpdated, scope.redact(r.resource), ret);
      }
      case 'DELETE': {
        // If-Match names a version of what the criteria match: with no match, that precondition fails (as an instance DELETE's does).
        if (target.none) {
          if (e.ifMatch !== undefined) throw preconditionFailed(`If-Match ${e.ifMatch} given but ${type}?${e.criteria} matches no resource`);
          return { response: { status: '204 No Content' } };
        }
        const r = await this.writer.deleteInTx(tx, type, target.id as string, { ifMatch: e.ifMatch });
        return { response: { status: '204 No Content', ...(r.versionId ? { etag: `W/"${r.versionId}"` } : {}) } };
      }
      case 'GET':
      case 'HEAD':
        return this.read(tx, e, base, scope);
    }
  }

  private async read(tx: Tx, e: ParsedEntry, base: string, scope: EntryAccess): Promise<BundleEntry> {
    const type = e.resourceType;
    if (!e.id) {
      // A search entry: the same search as GET [type]?criteria, inside this transaction.
      const bundle = await this.search.search({
        resourceType: type,
        params: [...new URLSearchParams(e.criteria ?? '').entries()],
        strict: false,
        compartment: scope.compartment(),
        canRead: (t) => scope.mayRead(t),
        hiddenTypes: scope.hiddenTypes(),
        visible: (v) => scope.visible(v),
        base,
        tx,
      });
      return { resource: bundle, response: { status: '200 OK' } };
    }
    const version = e.versionId
      ? await this.store.readVersion(type, e.id, Number(e.versionId), tx)
      : await this.store.readCurrent(type, e.id, tx);
    if (!version || !scope.visible(version)) throw notFound(`${type}/${e.id}${e.versionId ? `/_history/${e.versionId}` : ''} is not known`);
    if (version.deleted || !version.json) throw OperationOutcomeError.of(410, 'deleted', `${type}/${e.id} was deleted`);
    if (!e.versionId && clientCopyIsCurrent(e, version)) {
      return { response: { status: '304 Not Modified', etag: `W/"${version.versionId}"`, lastModified: version.lastUpdated.toISOString() } };
    }
    return {
      fullUrl: `${base}/${type}/${e.id}`,
      // _summary / _elements shape a read entry as they shape the same REST read.
      resource: e.method === 'HEAD' ? undefined : (parseFhirJson(shapeForRead(version.json, [...new URLSearchParams(e.criteria ?? '').entries()])) as Resource),
      response: { status: '200 OK', etag: `W/"${version.versionId}"`, lastModified: version.lastUpdated.toISOString() },
    };
  }
}

function entry(base: string, type: string, id: string, status: number, versionId: number, lastUpdated: Date, resource: Resource, ret: ReturnPreference): BundleEntry {
  const response: BundleEntryResponse = {
    status: `${status} ${STATUS_TEXT[status] ?? ''}`.trim(),
    location: `${type}/${id}/_history/${versionId}`,
    etag: `W/"${versionId}"`,
    lastModified: lastUpdated.toISOString(),
  };
  if (ret === 'OperationOutcome') response.outcome = outcome([{ severity: 'information', code: 'informational', diagnostics: `${type}/${id} version ${versionId}` }]);
  return { fullUrl: `${base}/${type}/${id}`, ...(ret === 'representation' ? { resource } : {}), response };
}

type EntryScope = <T>(e: ParsedEntry, fn: () => T) => T;

/** An entry's resource as validated, or why it was refused. */
type Prepared = { resource: Resource | undefined; error?: undefined } | { resource?: undefined; error: OperationOutcomeError };

function unwrap(p: Prepared): Resource | undefined {
  if (p.error) throw p.error;
  return p.resource;
}

/** The caller's scopes applied to bundle entries: each interaction needs its permission; reads see only what the caller may. */
class EntryAccess {
  constructor(
    private readonly policy: AccessPolicy,
    private readonly auth: AuthContext | undefined,
  ) {}

  check(e: ParsedEntry): void {
    const needs: Record<ParsedEntry['method'], Permission> = { POST: 'c', PUT: 'u', PATCH: 'u', DELETE: 'd', GET: e.id ? 'r' : 's', HEAD: e.id ? 'r' : 's' };
    const permission = needs[e.method];
    if (e.method === 'GET' || e.method === 'HEAD') this.policy.require(this.auth, e.resourceType, permission);
    else this.policy.requireWrite(this.auth, e.resourceType, permission);
    // Conditional criteria are a search of the type (else a create could probe it as an oracle).
    if (e.ifNoneExist || (e.criteria !== undefined && e.method !== 'GET' && e.method !== 'HEAD')) this.policy.require(this.auth, e.resourceType, 's');
  }

  /** Criteria (ifNoneExist, conditional targets and references) match with this caller's search rights. */
  criteria(): CriteriaAccess {
    return { compartment: this.compartment(), canSearch: (t) => this.policy.allows(this.auth, t, 's') };
  }

  visible(v: VisibleResource): boolean {
    return this.policy.isVisible(this.auth, v);
  }

  compartment(): string | undefined {
    return this.policy.compartment(this.auth) ?? undefined;
  }

  hiddenTypes(): string[] {
    return this.policy.hiddenTypes(this.auth);
  }

  redact(resource: Resource): Resource {
    return this.policy.redact(this.auth, resource);
  }

  mayRead(type: string): boolean {
    return this.policy.allows(this.auth, type, 's') || this.policy.allows(this.auth, type, 'r');
  }
}

/** Runs `fn`, naming the entry in any FHIR error it raises. */
function atEntry<T>(e: ParsedEntry, fn: () => T): T {
  const name = (err: unknown): never => {
    throw err instanceof OperationOutcomeError ? nameEntry(err, e) : err;
  };
  try {
    const result = fn();
    return result instanceof Promise ? (result.catch(name) as T) : result;
  } catch (err) {
    return name(err);
  }
}

/** "first-last" of a chunk's entries, as Bundle.entry indexes. */
function span(entries: ParsedEntry[]): string {
  const first = entries[0]?.index ?? 0;
  return `${first}-${entries[entries.length - 1]?.index ?? first}`;
}

/** A 500 entry response, described without internals. */
function internalError(what: string, requestId: string | undefined): BundleEntryResponse {
  return { status: '500', outcome: outcome([{ severity: 'error', code: 'exception', diagnostics: `${what} (internal server error, request ${requestId ?? 'unknown'})` }]) };
}

/**
 * The response of each entry of a batch chunk whose transaction failed, naming the entries that
 * shared it. A refusal (an OperationOutcomeError, e.g. a check at commit) keeps its status and
 * words; anything else is a 500. A transaction that fails at its commit may have committed (the
 * connection lost at that moment), hence "read before retrying".
 */
function chunkFailed(ready: ParsedEntry[], err: unknown, requestId: string | undefined): BundleEntryResponse {
  const what = `Entries ${span(ready)} of this batch shared one database transaction, which failed; they were not written unless the failure came at its very commit (read them before retrying)`;
  if (!(err instanceof OperationOutcomeError)) return internalError(what, requestId);
  const issue = err.outcome.issue?.[0];
  return { status: String(err.status), outcome: outcome([{ severity: 'error', code: issue?.code ?? 'exception', diagnostics: `${what}: ${issue?.diagnostics ?? 'refused'}` }]) };
}

/**
 * A relative reference (`Patient/a2`) inside an entry whose fullUrl is a RESTful URL
 * (`http://ehr.example/fhir/Observation/o1`) means that URL's base plus the reference
 * (bundle.html#references): `http://ehr.example/fhir/Patient/a2`, which may be another entry's
 * fullUrl. Undefined when either is not of that form.
 */
export function againstEntryBase(fullUrl: string | undefined, reference: string): string | undefined {
  if (!fullUrl || !RELATIVE_REFERENCE.test(reference)) return undefined;
  const m = RESTFUL_URL.exec(fullUrl);
  return m ? `${m[1]}${reference}` : undefined;
}

/**
 * `Type/id` of every entry whose fullUrl is a RESTful URL, when only one entry has that tail: a
 * relative reference from an entry without a RESTful fullUrl (a urn:uuid one) to such an entry, as
 * the R4 example Bundle-xds makes and EHRs send, names that entry rather than this server's
 * `Type/id` (HAPI resolves them the same way).
 */
function entriesByRelativeUrl(fullUrls: Map<string, string>): Map<string, string> {
  const byTail = new Map<string, string | null>();
  for (const [fullUrl, key] of fullUrls) {
    const m = RESTFUL_URL.exec(fullUrl);
    if (!m) continue;
    const tail = fullUrl.slice(m[1].length).replace(/\/_history\/.*$/, '');
    byTail.set(tail, byTail.has(tail) ? null : key);
  }
  return new Map([...byTail].filter((kv): kv is [string, string] => kv[1] !== null));
}

const RELATIVE_REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;
/** base/Type/id (optionally /_history/v): group 1 is the base with its trailing slash. */
const RESTFUL_URL = /^(https?:\/\/.+\/)[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** The entry with the fullUrls in its criteria (conditional URL, ifNoneExist, a GET's search) replaced, or what it waits for. */
function withResolvedCriteria(e: ParsedEntry, resolved: ReadonlyMap<string, string>, pending: ReadonlySet<string>): ParsedEntry | { on: string } {
  let next = e;
  for (const field of ['criteria', 'ifNoneExist'] as const) {
    const criteria = next[field];
    if (!criteria) continue;
    const r = resolveCriteriaUrls(criteria, resolved, pending);
    if ('unresolved' in r) return { on: r.unresolved };
    if (r.criteria !== criteria) next = { ...next, [field]: r.criteria };
  }
  return next;
}

/**
 * Whether a resource's references stay as written in this transaction: only contained (`#id`) and
 * local `Type/id` references that name no entry (by fullUrl or a RESTful fullUrl's tail); the
 * others (urn:uuid, fullUrls, conditional and absolute references) are rewritten after criteria
 * are matched, so a reference parameter cannot be decided on them in memory.
 */
function referencesSettled(entries: ParsedEntry[]): (resource: Resource) => boolean {
  const names = new Set<string>();
  for (const { fullUrl } of entries) {
    if (!fullUrl) continue;
    names.add(fullUrl);
    const m = RESTFUL_URL.exec(fullUrl);
    if (m) names.add(fullUrl.slice(m[1].length).replace(/\/_history\/.*$/, ''));
  }
  return (resource) =>
    collectReferences(resource, ENTRY_LINKS).every(({ reference }) => reference.startsWith('#') || (parseLocalReference(reference) !== undefined && !names.has(reference)));
}

/** The first conditional reference (`Type?criteria`) of a resource, if any. */
function firstConditionalReference(resource: Resource | undefined): { reference: string; path: string } | undefined {
  if (!resource || typeof resource !== 'object') return undefined;
  return collectReferences(resource).find(({ reference }) => CONDITIONAL_REFERENCE.test(reference));
}
