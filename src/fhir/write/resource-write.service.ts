import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Meta, Resource } from '@medplum/fhirtypes';
import { DatabaseService, type Tx, type TxContext } from '../../database/database.service';
import { OutboxRepository } from '../../outbox/outbox.repository';
import { validateFhirResource } from '../definitions/resource-validator';
import { badRequest, conflict, notFound, preconditionFailed } from '../operation-outcome';
import { ProjectionWriter } from '../projection/projection.writer';
import { owningPatientId } from '../store/resource-ownership';
import { ResourceStore, type StoredVersion } from '../store/resource-store.repository';
import { TokenIndex } from '../search/token-index';
import { translateConstraintError } from './constraint-errors';

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
  /** The version that marks the deletion, or undefined when the resource was already deleted. */
  versionId?: number;
}

export interface UpdateOptions {
  ifMatch?: string;
}

/**
 * The one write path. FHIR REST, bundles, hospital modules and AI workers all write through here:
 * validate, version, encrypt, store with history, project onto the seed's tables, audit (database
 * triggers attribute every row to the actor), and record the event that triggers AI work, all in
 * one transaction.
 */
@Injectable()
export class ResourceWriteService {
  /**
   * Per transaction: the patient compartments written to and the Patients deleted, checked just
   * before commit (like the deferred foreign keys, so a transaction may create a Patient after the
   * resources that reference it). This covers resources that no seed table's foreign key checks.
   */
  private readonly compartments = new WeakMap<Tx, { written: Set<string>; deletedPatients: Set<string> }>();

  constructor(
    private readonly db: DatabaseService,
    private readonly store: ResourceStore,
    private readonly projection: ProjectionWriter,
    private readonly outbox: OutboxRepository,
    private readonly tokens: TokenIndex,
  ) {}

  /** Runs several writes in one transaction (transaction bundles). */
  async inTransaction<T>(ctx: TxContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction(ctx, async (tx) => {
        this.compartments.set(tx, { written: new Set(), deletedPatients: new Set() });
        const result = await fn(tx);
        await this.checkCompartments(tx);
        await this.outbox.notify(tx);
        return result;
      });
    } catch (e) {
      throw translateConstraintError(e);
    }
  }

  create(ctx: TxContext, body: unknown, expectedType: string): Promise<WriteOutcome> {
    const resource = prepare(body, expectedType, randomUUID());
    return this.inTransaction(ctx, (tx) => this.createInTx(tx, resource));
  }

  update(ctx: TxContext, resourceType: string, id: string, body: unknown, options: UpdateOptions = {}): Promise<WriteOutcome> {
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const bodyId = (body as { id?: unknown }).id;
      if (bodyId === undefined) throw badRequest('The resource must have an id matching the URL to be updated', [`${resourceType}.id`]);
      if (bodyId !== id) throw badRequest(`The id in the body ("${String(bodyId)}") does not match the id in the URL ("${id}")`, [`${resourceType}.id`]);
    }
    const resource = prepare(body, resourceType, id);
    return this.inTransaction(ctx, (tx) => this.updateInTx(tx, resource, options));
  }

  delete(ctx: TxContext, resourceType: string, id: string, options: UpdateOptions = {}): Promise<DeleteOutcome> {
    return this.inTransaction(ctx, (tx) => this.deleteInTx(tx, resourceType, id, options));
  }

  /** Creates a validated resource whose id was assigned by the server (so it cannot exist yet). */
  async createInTx(tx: Tx, resource: Resource): Promise<WriteOutcome> {
    return this.writeVersion(tx, resource, undefined);
  }

  async updateInTx(tx: Tx, resource: Resource, options: UpdateOptions): Promise<WriteOutcome> {
    const { resourceType, id } = resource as Resource & { id: string };
    await this.store.lock(tx, resourceType, id);
    const current = await this.store.readCurrent(resourceType, id, tx);
    checkIfMatch(current, options.ifMatch, `${resourceType}/${id}`);
    if (current && !current.deleted && current.json && sameContent(JSON.parse(current.json), resource)) {
      const stored = JSON.parse(current.json) as Resource;
      return { status: 200, resource: stored, versionId: current.versionId, lastUpdated: current.lastUpdated, unchanged: true };
    }
    return this.writeVersion(tx, resource, current);
  }

  async deleteInTx(tx: Tx, resourceType: string, id: string, options: UpdateOptions): Promise<DeleteOutcome> {
    await this.store.lock(tx, resourceType, id);
    const current = await this.store.readCurrent(resourceType, id, tx);
    if (!current) throw notFound(`${resourceType}/${id} does not exist`);
    checkIfMatch(current, options.ifMatch, `${resourceType}/${id}`);
    if (current.deleted) return {};
    const versionId = current.versionId + 1;
    const lastUpdated = nextTimestamp(current.lastUpdated);
    await this.store.writeVersion(
      tx,
      { resourceType, id, versionId, lastUpdated, deleted: true, patientId: current.patientId, json: null },
      current.patientId,
    );
    await this.projection.remove(tx, resourceType, id);
    await this.tokens.remove(tx, resourceType, id);
    if (resourceType === 'Patient') this.compartments.get(tx)?.deletedPatients.add(id);
    await this.outbox.record(tx, { resourceType, resourceId: id, versionId, patientId: current.patientId, action: 'delete' });
    return { versionId };
  }

  private async writeVersion(tx: Tx, resource: Resource, current: StoredVersion | undefined): Promise<WriteOutcome> {
    const versionId = (current?.versionId ?? 0) + 1;
    const lastUpdated = nextTimestamp(current?.lastUpdated);
    const stored = withMeta(resource, versionId, lastUpdated);
    const patientId = owningPatientId(stored) ?? null;
    const id = stored.id as string;
    if (patientId && stored.resourceType !== 'Patient') this.compartments.get(tx)?.written.add(patientId);
    await this.store.writeVersion(
      tx,
      { resourceType: stored.resourceType, id, versionId, lastUpdated, deleted: false, patientId, json: JSON.stringify(stored) },
      current ? current.patientId : undefined,
    );
    await this.projection.project(tx, stored, { versionId, lastUpdated, isNew: !current });
    await this.tokens.index(tx, stored, patientId, !current);
    await this.outbox.record(tx, {
      resourceType: stored.resourceType,
      resourceId: id,
      versionId,
      patientId,
      action: current && !current.deleted ? 'update' : 'create',
    });
    const created = !current || current.deleted;
    return { status: created ? 201 : 200, resource: stored, versionId, lastUpdated };
  }

  /**
   * Referential integrity of patient compartments: a resource may only be filed under a Patient that
   * exists, and a Patient may only be deleted once no live resource is filed under it.
   */
  private async checkCompartments(tx: Tx): Promise<void> {
    const pending = this.compartments.get(tx);
    if (!pending) return;
    if (pending.written.size) {
      const ids = [...pending.written];
      // FOR SHARE: a concurrent delete of the Patient (an UPDATE of this row) waits for us, or we for it.
      const found = await tx.query<{ patient_id: string }>(
        `SELECT patient_id FROM fhir_patient_resource
         WHERE patient_id = ANY(?::text[]) AND resource_type = 'Patient' AND id = patient_id AND NOT deleted FOR SHARE`,
        [ids],
      );
      const existing = new Set(found.map((r) => r.patient_id));
      const missing = ids.find((pid) => !existing.has(pid));
      if (missing) throw badRequest(`Reference to Patient/${missing} cannot be resolved: no such resource on this server`);
    }
    if (pending.deletedPatients.size) {
      const rows = await tx.query<{ patient_id: string; types: string[] }>(
        `SELECT patient_id, array_agg(DISTINCT resource_type ORDER BY resource_type) AS types FROM fhir_patient_resource
         WHERE patient_id = ANY(?::text[]) AND resource_type <> 'Patient' AND NOT deleted GROUP BY patient_id`,
        [[...pending.deletedPatients]],
      );
      if (rows.length) {
        const { patient_id, types } = rows[0];
        throw conflict(`Patient/${patient_id} is still referenced by ${types.join(', ')} resources; delete or update them first`);
      }
    }
  }
}

/** Validates the body as a resource of `resourceType` with the given id. Throws a 400 OperationOutcome otherwise. */
export function prepare(body: unknown, resourceType: string, id: string): Resource {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The body must be a JSON object holding a FHIR resource');
  }
  const { meta, ...rest } = body as Resource & Record<string, unknown>;
  const resource = { ...rest, id } as Resource;
  if (meta !== null && typeof meta === 'object' && !Array.isArray(meta)) {
    // versionId and lastUpdated are the server's to set.
    const { versionId: _v, lastUpdated: _l, ...clientMeta } = meta as Meta;
    if (Object.keys(clientMeta).length) resource.meta = clientMeta;
  } else if (meta !== undefined) {
    resource.meta = meta; // not an object: the validator names it
  }
  validateFhirResource(resource, resourceType);
  return resource;
}

function withMeta(resource: Resource, versionId: number, lastUpdated: Date): Resource {
  const { resourceType, id, meta, ...rest } = resource;
  return { resourceType, id, meta: { ...meta, versionId: String(versionId), lastUpdated: lastUpdated.toISOString() }, ...rest } as Resource;
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

export function parseETag(value: string): number | undefined {
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(value);
  return m ? Number(m[1]) : undefined;
}

/** Equal apart from the server's meta. */
function sameContent(stored: Resource, incoming: Resource): boolean {
  const strip = (r: Resource) => {
    const { meta, ...rest } = r;
    const { versionId: _v, lastUpdated: _l, ...m } = meta ?? {};
    return { ...rest, ...(Object.keys(m).length ? { meta: m } : {}) };
  };
  return canonical(strip(stored)) === canonical(strip(incoming));
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

