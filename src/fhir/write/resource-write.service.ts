import { Injectable } from '@nestjs/common';
import type { Binary, Provenance, Meta, Resource } from '@medplum/fhirtypes';
import { DatabaseService, type Tx, type TxContext } from '../../database/database.service';
import { withLocalReferences } from '../references/reference-rewriter';
import { requireStorableReferences } from '../references/reference-forms';
import { OutboxRepository, type ResourceAction } from '../../outbox/outbox.repository';
import { validateFhirResource } from '../definitions/resource-validator';
import { badRequest, conflict, preconditionFailed } from '../operation-outcome';
import { requirePersistedType } from '../definitions/stored-types';
import { ProjectionWriter } from '../projection/projection.writer';
import { owningPatientId } from '../store/resource-ownership';
import { ResourceStore, type NewVersion, type StoredVersion } from '../store/resource-store.repository';
import { SearchIndexWriter } from '../search/search-index.writer';
import { IntegrityError, translateConstraintError } from './constraint-errors';
import { canonicalJson } from '../canonical-json';
import { EhrChainRepository } from '../ehr/ehr-chain.repository';
import { WriteRules, type WriteRuleContext } from './write-rules';
import { newResourceId } from '../store/resource-id';
import { withoutClaimedAiSource } from './ai-source';
import { parseFhirJson } from '../json/fhir-json';
import { carryLexemes, stringifyFhirJson } from '../json/lexemes';

export interface WriteOutcome {
  /** 201 when the write created the resource, 200 otherwise. */
  status: 200 | 201;
  resource: Resource;
  versionId: number;
  lastUpdated: Date;
  /** An update whose content equalled the current version: no new version was made. */
  unchanged?: boolean;
}

export interface DeleteOutcome {
  /** The version that marks the deletion, or undefined when there was nothing to delete. */
  versionId?: number;
  /** False when the resource never existed (R4: deleting it succeeds and changes nothing). */
  existed?: boolean;
}

export interface UpdateOptions {
  ifMatch?: string;
  /** `If-None-Match` of a PUT (RFC 9110 §13.1.2): `*` creates only if absent; ETags fail when the current version is one of them. */
  ifNoneMatch?: string;
  /** The interaction history records: PUT (the default) or PATCH (the patch service's updates). */
  method?: 'PUT' | 'PATCH';
}

/**
 * The one write path. FHIR REST, bundles, hospital modules and AI workers all write through here:
 * validate, version, encrypt, store with history, project onto the seed's tables, audit (database
 * triggers attribute every row to the actor), and record the event that triggers AI work, all in
 * one transaction.
 */
/** What a transaction has read, locked and written so far; writes are flushed in bulk. */
interface TxState {
  /** Patient compartments written to, and Patients deleted: checked before commit. */
  written: Set<string>;
  deletedPatients: Set<string>;
  /** Current versions known to this transaction (read, prefetched or written), keyed Type/id; null: none. */
  current: Map<string, StoredVersion | null>;
  locked: Set<string>;
  pending: PendingWrite[];
  /** Rows with deferred foreign keys were written (or referenced rows deleted) since the last check. */
  deferredChecksDue: boolean;
  /** Every resource this transaction has written, flushed or not, keyed Type/id: the stored resource, or null once deleted. */
  changed: Map<string, Resource | null>;
}

interface PendingWrite {
  version: NewVersion;
  previousPatientId: string | null | undefined;
  /** The stored resource (absent for a deletion). */
  resource?: Resource;
  isNew: boolean;
  action: ResourceAction;
}

@Injectable()
export class ResourceWriteService {
  private readonly states = new WeakMap<Tx, TxState>();

  constructor(
    private readonly db: DatabaseService,
    private readonly store: ResourceStore,
    private readonly projection: ProjectionWriter,
    private readonly outbox: OutboxRepository,
    private readonly searchIndex: SearchIndexWriter,
    private readonly ehrChain: EhrChainRepository,
    private readonly rules: WriteRules,
  ) {}

  /** Runs several writes in one transaction (transaction bundles). */
  async inTransaction<T>(ctx: TxContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction(ctx, async (tx) => {
        this.states.set(tx, newState());
        const result = await fn(tx);
        await this.flush(tx);
        await this.checkCompartments(tx);
        return result;
      });
    } catch (e) {
      throw translateConstraintError(e);
    }
  }

  /**
   * Runs `fn` as a unit inside a running transaction (a batch entry): on failure only its own
   * changes are rolled back. Deferred checks run at its end, so a failure is its own.
   */
  async inSavepoint<T>(tx: Tx, fn: () => Promise<T>): Promise<T> {
    await tx.query('SAVEPOINT batch_entry');
    try {
      const result = await fn();
      await this.flush(tx);
      const state = this.state(tx);
      if (state.deferredChecksDue) {
        // Run the deferred foreign-key checks now, so that a violation is this entry's alone.
        await tx.query('SET CONSTRAINTS ALL IMMEDIATE');
        await tx.query('SET CONSTRAINTS ALL DEFERRED');
        state.deferredChecksDue = false;
      }
      await this.checkCompartments(tx);
      await tx.query('RELEASE SAVEPOINT batch_entry');
      return result;
    } catch (e) {
      await tx.query('ROLLBACK TO SAVEPOINT batch_entry');
      await tx.query('SET CONSTRAINTS ALL DEFERRED');
      this.states.set(tx, newState()); // what this transaction knew may have been rolled back
      throw translateConstraintError(e);
    }
  }

  async create(ctx: TxContext, body: unknown, expectedType: string): Promise<WriteOutcome> {
    const resource = prepare(body, expectedType, newResourceId());
    try {
      return await this.inTransaction(ctx, (tx) => this.createInTx(tx, resource));
    } catch (e) {
      throw e instanceof IntegrityError ? e.pointedAt(resource) : e;
    }
  }

  async update(ctx: TxContext, resourceType: string, id: string, body: unknown, options: UpdateOptions = {}): Promise<WriteOutcome> {
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const bodyId = (body as { id?: unknown }).id;
      if (bodyId === undefined) throw badRequest('The resource must have an id matching the URL to be updated', [`${resourceType}.id`]);
      if (bodyId !== id) throw badRequest(`The id in the body ("${String(bodyId)}") does not match the id in the URL ("${id}")`, [`${resourceType}.id`]);
    }
    const resource = prepare(body, resourceType, id);
    try {
      return await this.inTransaction(ctx, (tx) => this.updateInTx(tx, resource, options));
    } catch (e) {
      throw e instanceof IntegrityError ? e.pointedAt(resource) : e;
    }
  }

  delete(ctx: TxContext, resourceType: string, id: string, options: UpdateOptions = {}): Promise<DeleteOutcome> {
    return this.inTransaction(ctx, (tx) => this.deleteInTx(tx, resourceType, id, options));
  }

  /** Locks and reads the current versions of resources this transaction is about to change, in one round trip each. */
  async prefetch(tx: Tx, keys: Array<{ resourceType: string; id: string }>): Promise<void> {
    const state = this.state(tx);
    const wanted = keys.filter((k) => !state.locked.has(`${k.resourceType}/${k.id}`));
    if (!wanted.length) return;
    await this.store.lockMany(tx, wanted);
    const unknown = wanted.filter((k) => !state.current.has(`${k.resourceType}/${k.id}`));
    const found = await this.store.readCurrentMany(unknown, tx);
    for (const k of wanted) {
      const key = `${k.resourceType}/${k.id}`;
      state.locked.add(key);
      if (!state.current.has(key)) state.current.set(key, found.get(key) ?? null);
    }
  }

  /** What this transaction has written so far (flushed or not): Type/id to the stored resource, or null when deleted. */
  changedIn(tx: Tx): ReadonlyMap<string, Resource | null> {
    return this.state(tx).changed;
  }

  /** The current version as this transaction sees it (its own writes included), the resource locked. */
  async currentOf(tx: Tx, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    await this.prefetch(tx, [{ resourceType, id }]);
    return this.state(tx).current.get(`${resourceType}/${id}`) ?? undefined;
  }

  /** Creates a validated resource whose id was assigned by the server (so it cannot exist yet). */
  async createInTx(tx: Tx, resource: Resource): Promise<WriteOutcome> {
    // Bundles have resolved their urn:uuid and conditional references by now; what is left is stored as is.
    requireStorableReferences(resource);
    requirePersistedType(resource.resourceType);
    const checked = await this.applyRules(tx, withoutClaimedAiSource(withLocalReferences(resource, tx.base), tx.actor), undefined);
    return this.writeVersion(tx, checked, undefined, 'POST', await this.ownerByTarget(tx, checked));
  }

  async updateInTx(tx: Tx, given: Resource, options: UpdateOptions): Promise<WriteOutcome> {
    // Only the AI's own writes keep the AI's meta.source (ai-source.ts): a client's copy of an AI-written version does not.
    requireStorableReferences(given);
    const resource = withoutClaimedAiSource(withLocalReferences(given, tx.base), tx.actor);
    const { resourceType, id } = resource as Resource & { id: string };
    requirePersistedType(resourceType);
    const current = await this.currentOf(tx, resourceType, id);
    checkIfMatch(current, options.ifMatch, `${resourceType}/${id}`);
    checkIfNoneMatch(current, options.ifNoneMatch, `${resourceType}/${id}`);
    // Written back as read (the AI's meta.source aside, which it may not keep): nothing changes.
    if (current && !current.deleted && current.json && sameContent(withoutClaimedAiSource(parseFhirJson(current.json) as Resource, tx.actor), resource)) {
      const stored = parseFhirJson(current.json) as Resource;
      return { status: 200, resource: stored, versionId: current.versionId, lastUpdated: current.lastUpdated, unchanged: true };
    }
    const checked = await this.applyRules(tx, resource, current);
    return this.writeVersion(tx, checked, current, options.method ?? 'PUT', await this.ownerByTarget(tx, checked));
  }

  /** The hospital modules' rules for this type, if any (see write-rules.ts). */
  private async applyRules(tx: Tx, resource: Resource, current: StoredVersion | undefined): Promise<Resource> {
    if (!this.rules.has(resource.resourceType)) return resource;
    const previous = current && !current.deleted && current.json ? (parseFhirJson(current.json) as Resource) : undefined;
    return this.rules.apply(tx, resource, this.ruleContext(tx, previous));
  }

  async deleteInTx(tx: Tx, resourceType: string, id: string, options: UpdateOptions): Promise<DeleteOutcome> {
    requirePersistedType(resourceType);
    const current = await this.currentOf(tx, resourceType, id);
    checkIfMatch(current, options.ifMatch, `${resourceType}/${id}`);
    // R4 (http.html#delete): deleting what does not exist, or no longer exists, succeeds and changes nothing.
    if (!current) return { existed: false };
    if (current.deleted) return {};
    if (this.rules.has(resourceType) && current.json) {
      const previous = parseFhirJson(current.json) as Resource;
      await this.rules.applyDelete(tx, previous, this.ruleContext(tx, previous));
    }
    const state = this.state(tx);
    const version: NewVersion = {
      resourceType,
      id,
      versionId: current.versionId + 1,
      lastUpdated: nextTimestamp(current.lastUpdated),
      deleted: true,
      patientId: current.patientId,
      json: null,
      request: { method: 'DELETE', status: 204 },
    };
    state.pending.push({ version, previousPatientId: current.patientId, isNew: false, action: 'delete' });
    state.current.set(`${resourceType}/${id}`, { ...version });
    state.changed.set(`${resourceType}/${id}`, null);
    if (resourceType === 'Patient') state.deletedPatients.add(id);
    return { versionId: version.versionId };
  }

  private ruleContext(tx: Tx, previous: Resource | undefined): WriteRuleContext {
    return {
      previous,
      actor: tx.actor,
      flush: () => this.flush(tx),
      hasPending: (resourceType) => this.state(tx).pending.some((p) => p.version.resourceType === resourceType),
    };
  }

  /** Writes what the transaction has buffered: one statement per table for all of it. */
  async flush(tx: Tx): Promise<void> {
    const state = this.state(tx);
    const pending = state.pending;
    if (!pending.length) return;
    state.pending = [];
    await this.store.writeVersions(tx, pending);
    const live = pending.filter((p) => p.resource);
    const projected = await this.projection.projectMany(
      tx,
      live.map((p) => ({ resource: p.resource as Resource, meta: { versionId: p.version.versionId, lastUpdated: p.version.lastUpdated, isNew: p.isNew } })),
    );
    await this.searchIndex.indexMany(tx, live.map((p) => ({ resource: p.resource as Resource, patientId: p.version.patientId, isNew: p.isNew })));
    const chained = await this.ehrChain.append(
      tx,
      pending
        .filter((p) => p.version.patientId && this.ehrChain.records(p.version.resourceType))
        .map((p) => ({
          patientId: p.version.patientId as string,
          resourceType: p.version.resourceType,
          resourceId: p.version.id,
          versionId: p.version.versionId,
          resource: p.resource,
        })),
    );
    let removed = false;
    const deletions = pending.filter((d) => !d.resource);
    for (const p of deletions) removed = (await this.projection.remove(tx, p.version.resourceType, p.version.id)) || removed;
    await this.searchIndex.removeMany(tx, deletions.map((p) => ({ resourceType: p.version.resourceType, id: p.version.id })));
    if (projected || chained || removed) state.deferredChecksDue = true;
    await this.outbox.recordMany(
      tx,
      pending.map((p) => ({
        resourceType: p.version.resourceType,
        resourceId: p.version.id,
        versionId: p.version.versionId,
        patientId: p.version.patientId,
        action: p.action,
      })),
    );
  }

  /**
   * A Provenance about a patient's resources (an Observation, a RiskAssessment) names no Patient, so
   * the compartment definition puts it in no compartment; it goes with the patient who owns its
   * first local target instead, so that it is never shown to other patients. A Binary likewise
   * goes with the owner of its securityContext (binary.html: the resource whose access rules it
   * follows, typically the DocumentReference whose attachment it is).
   */
  private async ownerByTarget(tx: Tx, resource: Resource): Promise<string | undefined> {
    const targets =
      resource.resourceType === 'Provenance' ? (resource as Provenance).target : resource.resourceType === 'Binary' ? [(resource as Binary).securityContext ?? {}] : undefined;
    if (!targets || owningPatientId(resource)) return undefined;
    for (const t of targets) {
      const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/.exec(t.reference ?? '');
      if (!m) continue;
      const target = await this.currentOf(tx, m[1], m[2]);
      if (target?.patientId) return target.patientId;
    }
    return undefined;
  }

  private writeVersion(tx: Tx, resource: Resource, current: StoredVersion | undefined, method: 'POST' | 'PUT' | 'PATCH', ownerHint?: string): WriteOutcome {
    const state = this.state(tx);
    const versionId = (current?.versionId ?? 0) + 1;
    const lastUpdated = nextTimestamp(current?.lastUpdated);
    const stored = withMeta(resource, versionId, lastUpdated);
    const patientId = owningPatientId(stored) ?? ownerHint ?? null;
    const id = stored.id as string;
    if (patientId && stored.resourceType !== 'Patient') state.written.add(patientId);
    const created = !current || current.deleted;
    const status: 200 | 201 = created ? 201 : 200;
    const request = { method, status };
    const version: NewVersion = { resourceType: stored.resourceType, id, versionId, lastUpdated, deleted: false, patientId, json: stringifyFhirJson(stored), request };
    state.pending.push({
      version,
      previousPatientId: current ? current.patientId : undefined,
      resource: stored,
      isNew: !current,
      action: current && !current.deleted ? 'update' : 'create',
    });
    state.current.set(`${stored.resourceType}/${id}`, { ...version });
    state.changed.set(`${stored.resourceType}/${id}`, stored);
    state.locked.add(`${stored.resourceType}/${id}`);
    return { status, resource: stored, versionId, lastUpdated };
  }

  private state(tx: Tx): TxState {
    let state = this.states.get(tx);
    if (!state) {
      state = newState();
      this.states.set(tx, state);
    }
    return state;
  }

  /**
   * Referential integrity of patient compartments: a resource may only be filed under a Patient that
   * exists, and a Patient may only be deleted once no live resource is filed under it.
   */
  private async checkCompartments(tx: Tx): Promise<void> {
    const pending = this.state(tx);
    if (pending.written.size) {
      const ids = [...pending.written];
      pending.written = new Set();
      // FOR SHARE: a concurrent delete of the Patient (an UPDATE of this row) waits for us, or we for it.
      const found = await tx.query<{ patient_id: string }>(
        `SELECT patient_id FROM fhir_patient_resource
         WHERE patient_id = ANY(?::text[]) AND resource_type = 'Patient' AND id = patient_id AND NOT deleted FOR SHARE`,
        [ids],
      );
      const existing = new Set(found.map((r) => r.patient_id));
      const missing = ids.find((pid) => !existing.has(pid));
      if (missing) throw IntegrityError.missing(`Patient/${missing}`);
    }
    if (pending.deletedPatients.size) {
      const deleted = [...pending.deletedPatients];
      pending.deletedPatients = new Set();
      const rows = await tx.query<{ patient_id: string; types: string[] }>(
        `SELECT patient_id, array_agg(DISTINCT resource_type ORDER BY resource_type) AS types FROM fhir_patient_resource
         WHERE patient_id = ANY(?::text[]) AND resource_type <> 'Patient' AND NOT deleted GROUP BY patient_id`,
        [deleted],
      );
      if (rows.length) {
        const { patient_id, types } = rows[0];
        throw IntegrityError.referenced(`Patient/${patient_id}`, types.join(', '));
      }
    }
  }
}

function newState(): TxState {
  return { written: new Set(), deletedPatients: new Set(), current: new Map(), locked: new Set(), pending: [], deferredChecksDue: false, changed: new Map() };
}

/** Validates the body as a resource of `resourceType` with the given id. Throws a 400 OperationOutcome otherwise. */
export function prepare(body: unknown, resourceType: string, id: string): Resource {
  const resource = storable(body, id);
  validateFhirResource(resource, resourceType);
  return resource;
}

/** The body as it is stored, before validation: the given id, and meta without what the server sets. */
export function storable(body: unknown, id: string): Resource {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The body must be a JSON object holding a FHIR resource');
  }
  const { meta, ...rest } = body as Resource & Record<string, unknown>;
  const resource = { ...rest, id } as Resource;
  carryLexemes(body, resource); // a decimal at the root keeps its lexeme (spreads do not copy them)
  if (meta !== null && typeof meta === 'object' && !Array.isArray(meta)) {
    // versionId and lastUpdated are the server's to set.
    const { versionId: _v, lastUpdated: _l, ...clientMeta } = meta as Meta;
    if (Object.keys(clientMeta).length) resource.meta = clientMeta;
  } else if (meta !== undefined) {
    resource.meta = meta; // not an object: the validator names it
  }
  return resource;
}

function withMeta(resource: Resource, versionId: number, lastUpdated: Date): Resource {
  const { resourceType, id, meta, ...rest } = resource;
  const out = { resourceType, id, meta: { ...meta, versionId: String(versionId), lastUpdated: lastUpdated.toISOString() }, ...rest } as Resource;
  carryLexemes(resource, out);
  return out;
}

/** Strictly after the previous version, even if this process's clock is behind another's. */
function nextTimestamp(previous: Date | undefined): Date {
  const now = Date.now();
  return new Date(previous && previous.getTime() >= now ? previous.getTime() + 1 : now);
}

function checkIfMatch(current: StoredVersion | undefined, ifMatch: string | undefined, ref: string): void {
  if (ifMatch === undefined) return;
  const wanted = parseETag(ifMatch);
  if (wanted === undefined) throw badRequest(`If-Match must be an ETag such as W/"1", got ${ifMatch}`);
  if (!current) throw preconditionFailed(`If-Match ${ifMatch} given but ${ref} does not exist`);
  if (current.versionId !== wanted) {
    throw preconditionFailed(`Version conflict: If-Match ${ifMatch} but the current version of ${ref} is ${current.versionId}`);
  }
}

/** A deleted resource has no current representation, so `*` holds for it as for one never created. */
function checkIfNoneMatch(current: StoredVersion | undefined, ifNoneMatch: string | undefined, ref: string): void {
  if (ifNoneMatch === undefined) return;
  const tags = ifNoneMatch.trim() === '*' ? undefined : ifNoneMatch.split(',').map(parseETag);
  if (tags?.includes(undefined)) throw badRequest(`If-None-Match must be * or ETags such as W/"1", got ${ifNoneMatch}`);
  if (!current || current.deleted) return;
  if (tags === undefined) throw preconditionFailed(`If-None-Match: * given but ${ref} exists (version ${current.versionId})`);
  if (tags.includes(current.versionId)) throw preconditionFailed(`If-None-Match ${ifNoneMatch} but the current version of ${ref} is ${current.versionId}`);
}

export function parseETag(value: string): number | undefined {
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(value);
  return m ? Number(m[1]) : undefined;
}

/** Equal apart from the server's meta. */
function sameContent(stored: Resource, incoming: Resource): boolean {
  const strip = (r: Resource) => {
    const { meta, ...rest } = r;
    const { versionId: _v, lastUpdated: _l, ...m } = meta ?? {};
    const out = { ...rest, ...(Object.keys(m).length ? { meta: m } : {}) };
    carryLexemes(r, out);
    return out;
  };
  return canonicalJson(strip(stored)) === canonicalJson(strip(incoming));
}


