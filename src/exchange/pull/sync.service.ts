import { Inject, Injectable } from '@nestjs/common';
import type { Bundle, CapabilityStatement, Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { LOGGER } from '../../core/core.module';
import { APP_CONFIG } from '../../core/tokens';
import { DatabaseService, type Tx } from '../../database/database.service';
import { fhirResourceTypes } from '../../fhir/definitions/fhir-definitions';
import { FHIR_ID } from '../../fhir/definitions/resource-validator';
import { OperationOutcomeError } from '../../fhir/operation-outcome';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import { ResourceWriteService, prepare } from '../../fhir/write/resource-write.service';
import { ConnectionRepository, type ConnectionRow } from '../connection.repository';
import { RemoteClients } from '../remote-clients';
import { RemoteFhirError, outcomeOf, type RemoteFhirClient } from '../remote-fhir.client';
import { identifierShape, ourSystem } from '../identity';
import { pullOptions } from './pull-options';
import { orderForPull, searchableTypes } from './pull-order';
import { EXCHANGE_ACTOR, PullRepository, type RemoteMapping, type RunCounts } from './pull.repository';
import { contentSha256, ownIdOf, pulledForm, refKey, remoteReferencesOf, rewriteRemoteReferences, type RemoteRef } from './remote-references';
import { newResourceId } from '../../fhir/store/resource-id';
import { offersTypeHistory, readHistoryPage, type RemoteHistory } from './remote-deletions';
import { matchesOf, nextLinkOf, searchPageProblem } from './search-page';
import { authSecrets, redact, scrub } from '../connections/secret-scrub';

export interface SyncResult {
  runId: number;
  status: 'succeeded' | 'failed' | 'skipped';
  types?: number;
}

/** What one run knows while it runs. */
interface RunState {
  runId: number;
  connection: ConnectionRow;
  client: RemoteFhirClient;
  /** Remote resources that failed to store in this run (`Type/remoteId`): referred to logically, not tried again. */
  failed: Set<string>;
  /** Remote resources a read did not give (gone, refused): referred to logically, not read again. */
  unreadable: Set<string>;
  /** The remote's CapabilityStatement, once read in this run (null: it could not be read for the deletion passes). */
  capabilities?: CapabilityStatement | null;
}

/** What one page's transaction knows. */
interface PageState {
  tx: Tx;
  /** Local ids by `Type/remoteId`, as known in this transaction (null: looked up, not here). */
  local: Map<string, RemoteMapping | null>;
  /** Resources being stored (a reference back to one of them is a cycle: kept logical). */
  inProgress: Set<string>;
  counts: RunCounts;
}

/**
 * One pull of one connection (a sync run): for each resource type, what changed on the remote
 * since the type's high-water mark, page by page (`_lastUpdated=ge…`, sorted, following `next`
 * links), each page stored in one transaction through the write path together with the cursor
 * and the counters, so that a crash loses at most the page in progress and the next attempt
 * resumes from the cursor. A remote resource whose content (without meta) did not change since it
 * was last stored is not written again. Transient remote failures are thrown (BullMQ retries);
 * permanent ones end the run as failed.
 */
@Injectable()
export class SyncService {
  constructor(
    private readonly db: DatabaseService,
    private readonly writer: ResourceWriteService,
    private readonly repo: PullRepository,
    private readonly connections: ConnectionRepository,
    private readonly clients: RemoteClients,
    private readonly resources: ResourceStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async run(runId: number): Promise<SyncResult> {
    const run = await this.repo.start(runId);
    if (!run) return { runId, status: 'skipped' };
    const remote = await this.clients.forConnection(run.connectionId);
    if (!remote) return { runId, status: 'skipped' }; // the connection is gone (its runs with it)
    const state: RunState = { runId, connection: remote.connection, client: remote.client, failed: new Set(), unreadable: new Set() };
    try {
      const types = await this.typesOf(state);
      for (const type of types) await this.pullType(state, type);
      // Deletions after every type's changes, dependants first: a Patient is deleted after its records.
      for (const type of [...types].reverse()) await this.pullDeletions(state, type);
      await this.db.transaction(EXCHANGE_ACTOR, (tx) => this.repo.finish(tx, runId, 'succeeded'));
      return { runId, status: 'succeeded', types: types.length };
    } catch (e) {
      // A permanent refusal (4xx, a link outside the base, a private address): trying again cannot help.
      if (e instanceof RemoteFhirError && !e.transient) {
        await this.fail(runId, e);
        return { runId, status: 'failed' };
      }
      throw e;
    }
  }

  /**
   * Ends the run as failed, with a failure row holding the OperationOutcome (once, however often
   * called). The message and outcome are scrubbed of the connection's secrets again here (a remote's
   * errors already are, by the client that saw them; this also covers what did not come through it).
   */
  async fail(runId: number, e: unknown): Promise<void> {
    const [run] = await this.db.query<{ connection_id: string }>('SELECT connection_id FROM exchange_sync_runs WHERE id = ?', [runId]);
    const secrets = run ? authSecrets(await this.connections.authOf(run.connection_id)) : [];
    const message = scrub(e instanceof Error ? e.message : String(e), secrets);
    const outcome = redact(e instanceof RemoteFhirError || e instanceof OperationOutcomeError ? e.outcome : outcomeOf('exception', message), secrets);
    await this.db.transaction(EXCHANGE_ACTOR, async (tx) => {
      const [row] = await tx.query<{ connection_id: string }>('SELECT connection_id FROM exchange_sync_runs WHERE id = ?', [runId]);
      if (!row || !(await this.repo.finish(tx, runId, 'failed', message))) return;
      await this.connections.addFailure(tx, row.connection_id, { direction: 'pull', outcome, runId });
    });
    this.logger.warn({ runId, err: message }, 'exchange sync failed');
  }

  /** The connection's types, else what the remote can search that this server knows; in pulling order. */
  private async typesOf(state: RunState): Promise<string[]> {
    if (state.connection.resourceTypes?.length) return orderForPull(state.connection.resourceTypes);
    const known = fhirResourceTypes();
    return orderForPull(searchableTypes(await this.capabilitiesOf(state)).filter((t) => known.has(t)));
  }

  /** The remote's CapabilityStatement, read once per run. */
  private async capabilitiesOf(state: RunState): Promise<CapabilityStatement> {
    state.capabilities ||= await state.client.capabilityStatement();
    return state.capabilities;
  }

  /** Whether the remote offers the type's history; a CapabilityStatement that cannot be read means no (logged once per run). */
  private async offersHistory(state: RunState, type: string): Promise<boolean> {
    if (state.capabilities === undefined) {
      try {
        await this.capabilitiesOf(state);
      } catch (e) {
        if (!(e instanceof RemoteFhirError)) throw e;
        this.logger.warn({ runId: state.runId, err: e.message }, 'exchange sync: the remote CapabilityStatement could not be read; remote deletions are not looked for in this run');
        state.capabilities = null;
      }
    }
    return offersTypeHistory(state.capabilities ?? undefined, type);
  }

  private async pullType(state: RunState, type: string): Promise<void> {
    const connectionId = state.connection.id;
    const { maxPagesPerType, overlapMs } = pullOptions();
    await this.stopIfOff(state, type);
    const start = await this.repo.cursor(this.db, connectionId, type);
    let highWater = start.highWater;
    // From a little before the high-water mark: a remote transaction that committed after the last
    // run read a later change carries an earlier lastUpdated (what is read again changes nothing).
    const since = highWater && new Date(highWater.getTime() - overlapMs);
    // Resume where the last attempt stopped (a next link it stored), else everything since the high-water mark.
    const firstPage = async () =>
      this.checkedPage(
        state,
        type,
        await state.client.search(type, {
          ...(since ? { _lastUpdated: `ge${since.toISOString()}` } : {}),
          _sort: '_lastUpdated',
          _count: String(this.config.exchangePageSize),
        }),
      );
    /** The links followed in this run: one seen again means the remote's paging goes round in a circle. */
    const followed = new Set<string>(start.nextUrl ? [start.nextUrl] : []);
    let bundle: Bundle;
    try {
      bundle = start.nextUrl ? this.checkedPage(state, type, await state.client.page(start.nextUrl)) : await firstPage();
    } catch (e) {
      // A stored link the remote no longer accepts (an expired paging cursor, a changed base URL):
      // start the type again from its high-water mark; what is already stored comes back unchanged.
      if (!start.nextUrl || !(e instanceof RemoteFhirError) || e.transient) throw e;
      this.logger.warn({ runId: state.runId, type, err: e.message }, 'exchange sync: the stored next link was refused; starting the type again');
      followed.clear();
      bundle = await firstPage();
    }
    for (let pages = 1; ; pages++) {
      const next = nextLinkOf(bundle);
      const matches = matchesOf(bundle);
      for (const r of matches) {
        if (r.resourceType !== type) continue;
        const at = r.meta?.lastUpdated ? new Date(r.meta.lastUpdated) : undefined;
        if (at && !Number.isNaN(at.getTime()) && (!highWater || at > highWater)) highWater = at;
      }
      await this.writer.inTransaction(EXCHANGE_ACTOR, async (tx) => {
        await this.repo.lockConnection(tx, connectionId);
        const page: PageState = { tx, local: new Map(), inProgress: new Set(), counts: { in: 0, unchanged: 0, failed: 0 } };
        // One look-up for the page's resources and everything they refer to.
        const keys = matches.filter((r) => r.id).flatMap((r) => [{ type: r.resourceType, id: r.id as string }, ...remoteReferencesOf(r, state.connection.baseUrl)]);
        await this.lookUp(state, page, keys);
        for (const r of matches) {
          // A search of one type answers with that type only: anything else is the remote's mistake, not data to keep.
          if (r.resourceType !== type) {
            await this.recordFailure(state, page, `${String(r.resourceType).slice(0, 64)}/${String(r.id ?? '').slice(0, 64)}`, outcomeOf('processing', `The remote answered a search of ${type} with a ${String(r.resourceType).slice(0, 64)} as a match; it is not stored`));
            continue;
          }
          await this.store(state, page, r, 0);
        }
        // The greatest lastUpdated seen so far: with _sort=_lastUpdated every earlier one is stored.
        await this.repo.saveCursor(tx, connectionId, type, { nextUrl: next, highWater, runId: state.runId });
        await this.repo.addRunCounts(tx, state.runId, page.counts);
        await this.connections.addCounts(tx, connectionId, { in: page.counts.in });
      });
      if (!next) return;
      if (followed.has(next)) {
        throw this.stopped(state, 'processing', `The remote's paging of ${type} goes round in a circle: its next link ${next} was already followed in this run; the run stops (stored pages are kept)`);
      }
      if (pages >= maxPagesPerType) {
        // Only this type stops: its next link is stored, the other types are still pulled.
        const message = state.client.scrub(`${type}: ${pages} pages in this run, the most one run reads of a type (EXCHANGE_SYNC_MAX_PAGES); the type stops here and the next run continues from the stored next link`);
        await this.db.transaction(EXCHANGE_ACTOR, async (tx) => {
          await this.connections.addFailure(tx, connectionId, { direction: 'pull', outcome: outcomeOf('too-costly', message), runId: state.runId, resource: type });
          await this.repo.addRunCounts(tx, state.runId, { in: 0, unchanged: 0, failed: 1 });
        });
        this.logger.warn({ runId: state.runId, type }, message);
        return;
      }
      await this.stopIfOff(state, type);
      followed.add(next);
      bundle = this.checkedPage(state, type, await state.client.page(next));
    }
  }

  /** The search answer as a page, or a permanent failure saying why it is not one (nothing of it stored, the cursor not moved). */
  private checkedPage(state: RunState, type: string, body: unknown): Bundle {
    const problem = searchPageProblem(body);
    if (problem) throw this.stopped(state, 'structure', `The remote's answer to a search of ${type} is not a search page: ${problem}`);
    return body as Bundle;
  }

  /** Stops the run when the connection was turned off (DELETE or PATCH) since it started: checked before every page. */
  private async stopIfOff(state: RunState, type: string): Promise<void> {
    const now = await this.connections.get(state.connection.id);
    if (now?.status === 'active') return;
    throw this.stopped(state, 'business-rule', `Connection ${state.connection.name} was turned off; the run stopped before reading ${type} (it continues from its cursors when the connection is on again)`);
  }

  /** A permanent failure of the run (no retry can help): the run ends failed with this OperationOutcome. */
  private stopped(state: RunState, code: string, message: string): RemoteFhirError {
    const text = state.client.scrub(message);
    return new RemoteFhirError(text, undefined, false, outcomeOf(code, text));
  }

  /**
   * Deletes the local copies of the type's remote resources that the remote has deleted since the
   * last look (a `_lastUpdated` search never returns deletions), through the write path, when the
   * remote offers the type's history. Only copies pulled from this connection (never a resource of
   * ours that the remote held). Deletions are written in transactions of a page's size; the look is
   * recorded only when every deletion it found is done, so a crash or a refused deletion (a failure
   * row) is tried again at the next run, and deleting again changes nothing. A remote that refuses
   * the history read is recorded as a failure; the run goes on.
   */
  private async pullDeletions(state: RunState, type: string): Promise<void> {
    if (!(await this.offersHistory(state, type))) return;
    const connectionId = state.connection.id;
    const cursor = await this.repo.deletionCursor(this.db, connectionId, type);
    if (!cursor.pulled) return;
    const newest: RemoteHistory = new Map();
    let latest: Date | undefined;
    try {
      let bundle = await state.client.history(type, cursor.since, this.config.exchangePageSize);
      for (;;) {
        const at = readHistoryPage(bundle, type, newest);
        if (at && (!latest || at > latest)) latest = at;
        const next = bundle.link?.find((l) => l.relation === 'next')?.url;
        if (!next) break;
        bundle = await state.client.page(next);
      }
    } catch (e) {
      if (!(e instanceof RemoteFhirError) || e.transient) throw e;
      await this.db.transaction(EXCHANGE_ACTOR, async (tx) => {
        await this.connections.addFailure(tx, connectionId, { direction: 'pull', outcome: state.client.redact(e.outcome), runId: state.runId, resource: `${type}/_history` });
        await this.repo.addRunCounts(tx, state.runId, { in: 0, unchanged: 0, failed: 1 });
      });
      return;
    }
    const gone = [...newest].filter(([, h]) => h.deleted).map(([id]) => ({ type, id }));
    let failed = 0;
    for (let start = 0; start < gone.length; start += this.config.exchangePageSize) {
      await this.writer.inTransaction(EXCHANGE_ACTOR, async (tx) => {
        await this.repo.lockConnection(tx, connectionId);
        const page: PageState = { tx, local: new Map(), inProgress: new Set(), counts: { in: 0, unchanged: 0, failed: 0, deleted: 0 } };
        const batch = gone.slice(start, start + this.config.exchangePageSize);
        const mapped = await this.repo.mappings(tx, connectionId, batch);
        for (const { id } of batch) {
          const m = mapped.get(`${type}/${id}`);
          if (m) await this.deleteCopy(state, page, type, id, m.localId);
        }
        failed += page.counts.failed;
        await this.repo.addRunCounts(tx, state.runId, page.counts);
      });
    }
    if (failed) return;
    // From a little before the latest change seen: a remote transaction that committed late with an
    // earlier time is still read next time (what is read again changes nothing).
    const overlap = latest ? new Date(latest.getTime() - pullOptions().overlapMs) : null;
    const highWater = overlap && (!cursor.since || overlap > cursor.since) ? overlap : cursor.since;
    await this.db.transaction(EXCHANGE_ACTOR, (tx) => this.repo.saveDeletionCursor(tx, connectionId, type, highWater, state.runId));
  }

  /** Deletes the local copy of a remote resource the remote deleted, if it is still a live pulled copy. */
  private async deleteCopy(state: RunState, page: PageState, type: string, remoteId: string, localId: string): Promise<void> {
    try {
      const deleted = await this.writer.inSavepoint(page.tx, async () => {
        const current = await this.writer.currentOf(page.tx, type, localId);
        if (!current || current.deleted || !current.json) return false;
        // A pulled copy names its origin in meta.source (`<base>/<Type>/<remote id>`); a resource of ours that the remote held does not.
        const source = (JSON.parse(current.json) as Resource).meta?.source;
        if (!source?.endsWith(`/${type}/${remoteId}`)) return false;
        await this.writer.deleteInTx(page.tx, type, localId, {});
        return true;
      });
      if (deleted) page.counts.deleted = (page.counts.deleted ?? 0) + 1;
      await this.repo.forgetContent(page.tx, state.connection.id, type, remoteId);
    } catch (e) {
      if (!(e instanceof OperationOutcomeError)) throw e;
      await this.recordFailure(state, page, `${type}/${remoteId}`, e.outcome);
    }
  }

  /** Fills the page's mapping cache for `refs` not looked up yet. */
  private async lookUp(state: RunState, page: PageState, refs: RemoteRef[]): Promise<void> {
    const wanted = refs.filter((r) => !page.local.has(refKey(r)));
    if (!wanted.length) return;
    const found = await this.repo.mappings(page.tx, state.connection.id, wanted);
    for (const r of wanted) page.local.set(refKey(r), found.get(refKey(r)) ?? null);
  }

  /**
   * Stores one remote resource (unless unchanged) and returns its local id; undefined when it
   * cannot be stored (recorded as a failure: the run goes on). Remote resources it refers to that
   * are not here yet are read and stored first, up to a depth, never round a cycle.
   */
  private async store(state: RunState, page: PageState, remote: Resource, depth: number): Promise<string | undefined> {
    const key = `${remote.resourceType}/${remote.id ?? ''}`;
    if (!remote.id || !FHIR_ID.test(remote.id) || !/^[A-Z][A-Za-z]{1,63}$/.test(remote.resourceType ?? '')) {
      await this.recordFailure(state, page, key.slice(0, 200), outcomeOf('value', `A resource from ${state.connection.baseUrl} has no valid type and id (${key.slice(0, 200)})`));
      return undefined;
    }
    const sha = contentSha256(remote);
    await this.lookUp(state, page, [{ type: remote.resourceType, id: remote.id }]);
    const mapped = page.local.get(key) ?? undefined;
    if (mapped?.contentSha256?.equals(sha)) {
      page.counts.unchanged++;
      return mapped.localId;
    }
    if (state.failed.has(key)) return undefined;
    const own = await this.ownResource(remote);
    if (own) {
      // Ours, pushed there: map it to our resource rather than pull a copy of it back.
      await this.repo.mapOwn(page.tx, state.connection.id, { resourceType: remote.resourceType, remoteId: remote.id, localId: own, contentSha256: sha });
      page.local.set(key, { localId: own, contentSha256: sha });
      page.counts.unchanged++;
      return own;
    }
    page.inProgress.add(key);
    try {
      await this.fetchMissing(state, page, remote, depth);
      const baseUrl = state.connection.baseUrl;
      const rewritten = rewriteRemoteReferences(remote, baseUrl, (r) => page.local.get(refKey(r))?.localId);
      const localId = mapped?.localId ?? newResourceId();
      const unchanged = await this.writer.inSavepoint(page.tx, async () => {
        const resource = prepare(pulledForm(rewritten, baseUrl, identifierShape(remote.resourceType)), remote.resourceType, localId);
        const out = mapped ? await this.writer.updateInTx(page.tx, resource, {}) : await this.writer.createInTx(page.tx, resource);
        await this.repo.upsertMapping(page.tx, state.connection.id, {
          resourceType: remote.resourceType,
          remoteId: remote.id as string,
          localId,
          remoteVersionId: remote.meta?.versionId,
          remoteLastUpdated: remote.meta?.lastUpdated,
          contentSha256: sha,
        });
        return out.unchanged === true;
      });
      page.local.set(key, { localId, contentSha256: sha });
      if (unchanged) page.counts.unchanged++;
      else page.counts.in++;
      return localId;
    } catch (e) {
      if (!(e instanceof OperationOutcomeError)) throw e;
      state.failed.add(key);
      await this.recordFailure(state, page, key, e.outcome);
      return undefined;
    } finally {
      page.inProgress.delete(key);
    }
  }

  /** Our id when the remote resource is one this server pushed and still has, else undefined. */
  private async ownResource(remote: Resource): Promise<string | undefined> {
    const id = ownIdOf(remote, ourSystem(this.config));
    if (!id) return undefined;
    const found = await this.resources.readCurrentMany([{ resourceType: remote.resourceType, id }]);
    const current = found.get(`${remote.resourceType}/${id}`);
    return current && !current.deleted ? id : undefined;
  }

  /** Reads and stores the remote resources `remote` refers to that are not here yet (bounded depth, cycle-safe). */
  private async fetchMissing(state: RunState, page: PageState, remote: Resource, depth: number): Promise<void> {
    const refs = remoteReferencesOf(remote, state.connection.baseUrl);
    await this.lookUp(state, page, refs);
    if (depth >= pullOptions().referenceDepth) return;
    for (const ref of refs) {
      const key = refKey(ref);
      if (page.local.get(key) || page.inProgress.has(key) || state.failed.has(key) || state.unreadable.has(key)) continue;
      let found: Resource | undefined;
      try {
        found = await state.client.read(ref.type, ref.id);
      } catch (e) {
        // Not allowed to see it, or not a valid read: it stays a logical reference. No answer: the page is tried again.
        if (e instanceof RemoteFhirError && !e.transient) {
          state.unreadable.add(key);
          continue;
        }
        throw e;
      }
      if (!found || found.resourceType !== ref.type || found.id !== ref.id) {
        state.unreadable.add(key); // gone on the remote (404/410) or not what was asked for
        continue;
      }
      await this.store(state, page, found, depth + 1);
    }
  }

  private async recordFailure(state: RunState, page: PageState, resource: string, outcome: Parameters<ConnectionRepository['addFailure']>[2]['outcome']): Promise<void> {
    await this.connections.addFailure(page.tx, state.connection.id, { direction: 'pull', outcome: state.client.redact(outcome), runId: state.runId, resource });
    page.counts.failed++;
  }
}
