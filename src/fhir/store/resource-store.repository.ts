import { Injectable } from '@nestjs/common';
import { KeyRing, PGP_OPTIONS } from '../../crypto/key-ring';
import type { Tx } from '../../database/database.service';
import { DatabaseService } from '../../database/database.service';
import { uniqueChunks } from '../../database/unique-chunks';
import { isEncryptedType } from './sensitivity';
import { assertIntegrity } from './stored-integrity';
import { storedJsonSql } from './stored-json';

/** One stored version of a resource. `json` is the resource text exactly as served (meta included). */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  deleted: boolean;
  /** The patient whose compartment holds the resource (the shard key), if any. */
  patientId: string | null;
  /**
   * History reads only, and only for a version carried over from another owner when the resource
   * changed patient: the patient it was filed under when written (null: none). Absent: patientId.
   */
  filedPatientId?: string | null;
  json: string | null;
  /** History reads only: the interaction that made the version and its HTTP status, when kept (see HistoryRequest). */
  request?: HistoryRequest;
}

/** How a version was made, as a history entry tells it: `PUT Patient/x` answered 201 for an update-as-create. */
export interface HistoryRequest {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  status: number;
}

/**
 * Types whose resources are written once and never changed: the AuditEvents the server records
 * (no client may create, change or delete one). Their one version is kept once, in the current
 * table, which is also their history (vread and _history read it there): half the rows and
 * index entries per request.
 */
export const KEPT_ONCE_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

export interface NewVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  deleted: boolean;
  patientId: string | null;
  json: string | null;
  /** Kept in the history row (not for types kept once, whose one version is a POST). */
  request?: HistoryRequest;
}

export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  since?: Date;
  /** Paging: only versions made at or before this instant (the newest one of the first page), so that later pages do not shift as new versions arrive. */
  until?: Date;
  /** _at: the period its value covers at its precision ([low, high): a day, a second...). */
  at?: { low: Date; high: Date };
  count: number;
  offset: number;
  /** Only this patient's compartment (a patient-context token's history). */
  patientId?: string;
  /** Types left out (those the caller may not see in system-wide listings). */
  excludeTypes?: string[];
}

type Queryable = Pick<Tx, 'query'>;

interface Row {
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: Date;
  deleted: boolean;
  patient_id: string | null;
  json: string | null;
  sealed: boolean;
  request_method?: string | null;
  response_status?: number | null;
  moved?: boolean | null;
  filed_patient_id?: string | null;
}

// `sealed`: whether json came from ciphertext, for the integrity check (stored-integrity.ts).
const COLUMNS = `resource_type, id, version_id, last_updated, deleted, ${storedJsonSql()} AS json, content_enc IS NOT NULL AS sealed`;
/** History rows: the version's owner when written, for rows carried over from another owner (moveHistory). */
const FILED = 'moved, filed_patient_id::text';
/** COLUMNS of the row aliased `r`, where another relation in the query has columns of the same names. */
const COLUMNS_OF_R = `r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, ${storedJsonSql('r')} AS json, r.content_enc IS NOT NULL AS sealed`;

/**
 * The FHIR resource store: current versions and history, in a table for resources that belong to
 * a patient (keyed and, under Citus, distributed by patient_id) and one for resources that do not.
 * Sensitive types are stored encrypted with pgcrypto. Plain SQL; no business rules.
 */
@Injectable()
export class ResourceStore {
  constructor(
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
  ) {}

  private q(tx?: Queryable): Queryable {
    return tx ?? this.db;
  }

  /** The hot reads by key: fixed statement texts, so outside a transaction they run as prepared statements (no planning per read). */
  private read<T>(tx: Queryable | undefined, sql: string, params: unknown[]): Promise<T[]> {
    return tx ? tx.query<T>(sql, params) : this.db.queryPrepared<T>(sql, params);
  }

  async readCurrent(resourceType: string, id: string, tx?: Queryable): Promise<StoredVersion | undefined> {
    const key = this.keys.decryptionKeys();
    const rows = await this.read<Row>(
      tx,
      `SELECT NULL::text AS patient_id, ${COLUMNS} FROM fhir_resource WHERE resource_type = ? AND id = ?
       UNION ALL
       SELECT patient_id::text, ${COLUMNS} FROM fhir_patient_resource WHERE resource_type = ? AND id = ?`,
      [key, resourceType, id, key, resourceType, id],
    );
    return rows[0] && toStored(rows[0], true);
  }

  /** Locks several resources at once, in a fixed order so that concurrent transactions cannot deadlock. */
  async lockMany(tx: Tx, keys: Array<{ resourceType: string; id: string }>): Promise<void> {
    if (!keys.length) return;
    const names = [...new Set(keys.map((k) => `${k.resourceType}/${k.id}`))].sort();
    await tx.query('SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM (SELECT k FROM unnest(?::text[]) AS k ORDER BY k) s', [names]);
  }

  /** Current versions of several resources in one round trip, keyed `Type/id`. */
  async readCurrentMany(keys: Array<{ resourceType: string; id: string }>, tx?: Queryable): Promise<Map<string, StoredVersion>> {
    const found = new Map<string, StoredVersion>();
    if (!keys.length) return found;
    const key = this.keys.decryptionKeys();
    const unique = [...new Map(keys.map((k) => [`${k.resourceType}/${k.id}`, k])).values()];
    const types = unique.map((k) => k.resourceType);
    const ids = unique.map((k) => k.id);
    // Each table joined with the keys (not `IN (SELECT ... FROM unnest(...))`): PostgreSQL plans this
    // form in about two thirds of the time (0.16 vs 0.25 ms; it is usually planned afresh for each
    // call, the number of keys being part of the plan) and runs it by primary-key probes. A plain
    // join rather than a LATERAL subquery, which Citus restricts on a distributed table.
    const rows = await this.read<Row>(
      tx,
      `SELECT NULL::text AS patient_id, ${COLUMNS_OF_R} FROM fhir_resource r JOIN unnest(?::text[], ?::text[]) AS w(resource_type, id) ON r.resource_type = w.resource_type AND r.id = w.id
       UNION ALL
       SELECT r.patient_id::text, ${COLUMNS_OF_R} FROM fhir_patient_resource r JOIN unnest(?::text[], ?::text[]) AS w(resource_type, id) ON r.resource_type = w.resource_type AND r.id = w.id`,
      [key, types, ids, key, types, ids],
    );
    for (const r of rows) found.set(`${r.resource_type}/${r.id}`, toStored(r, true));
    return found;
  }

  async readVersion(resourceType: string, id: string, versionId: number, tx?: Queryable): Promise<StoredVersion | undefined> {
    const key = this.keys.decryptionKeys();
    if (KEPT_ONCE_TYPES.has(resourceType)) {
      const [row] = await this.read<Row>(
        tx,
        `SELECT NULL::text AS patient_id, ${COLUMNS} FROM fhir_resource WHERE resource_type = ? AND id = ? AND version_id = ?`,
        [key, resourceType, id, versionId],
      );
      return row && toStored(row, false);
    }
    const rows = await this.read<Row>(
      tx,
      `SELECT NULL::text AS patient_id, ${COLUMNS}, ${FILED} FROM fhir_resource_history WHERE resource_type = ? AND id = ? AND version_id = ?
       UNION ALL
       SELECT patient_id::text, ${COLUMNS}, ${FILED} FROM fhir_patient_resource_history WHERE resource_type = ? AND id = ? AND version_id = ?`,
      [key, resourceType, id, versionId, key, resourceType, id, versionId],
    );
    return rows[0] && toStored(rows[0], false);
  }

  /** Versions newest first, at instance, type or system level. */
  async history(query: HistoryQuery, tx?: Queryable): Promise<{ versions: StoredVersion[]; total: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.resourceType) {
      where.push('resource_type = ?');
      params.push(query.resourceType);
    }
    if (query.id) {
      where.push('id = ?');
      params.push(query.id);
    }
    if (query.since) {
      where.push('last_updated >= ?');
      params.push(query.since);
    }
    if (query.until) {
      where.push('last_updated <= ?');
      params.push(query.until);
    }
    if (query.excludeTypes?.length) {
      where.push('resource_type <> ALL(?::text[])');
      params.push(query.excludeTypes);
    }
    const at = query.at ? [query.at.high, query.at.low] : [];
    // _at: the versions that were current at some point of the period (http.html#history): made
    // before its end, and not replaced by a later version at or before its start.
    const cond = (table: string) => {
      const all = [...where];
      if (query.at) {
        all.push('last_updated < ?');
        all.push(`NOT EXISTS (SELECT 1 FROM ${table} later WHERE later.resource_type = v.resource_type AND later.id = v.id
                   AND later.version_id > v.version_id AND later.last_updated <= ?)`);
      }
      return `${table} v WHERE ${all.length ? all.join(' AND ') : 'true'}`;
    };
    const key = this.keys.decryptionKeys();
    // A type kept once has its history in the current table (and none in the history tables).
    const keptOnce = !!query.resourceType && KEPT_ONCE_TYPES.has(query.resourceType);
    const [shared, owned] = keptOnce ? ['fhir_resource', 'fhir_patient_resource'] : ['fhir_resource_history', 'fhir_patient_resource_history'];
    const request = keptOnce ? 'NULL::varchar AS request_method, NULL::smallint AS response_status, NULL::boolean AS moved, NULL::text AS filed_patient_id' : `request_method, response_status, ${FILED}`;
    // A patient's history: the versions filed under it, not those another owner's resource brought along when it moved here.
    const own = query.patientId ? `AND v.patient_id = ? AND (v.moved IS NULL OR v.filed_patient_id = v.patient_id)` : '';
    const rows = await this.q(tx).query<Row & { total: string }>(
      `SELECT *, count(*) OVER () AS total FROM (
         SELECT NULL::text AS patient_id, ${COLUMNS}, ${request} FROM ${cond(shared)} ${query.patientId ? 'AND false' : ''}
         UNION ALL
         SELECT patient_id::text, ${COLUMNS}, ${request} FROM ${cond(owned)} ${own}
       ) h ORDER BY last_updated DESC, resource_type, id, version_id DESC LIMIT ? OFFSET ?`,
      [key, ...params, ...at, key, ...params, ...at, ...(query.patientId ? [query.patientId] : []), query.count, query.offset],
    );
    let total = rows.length ? Number(rows[0].total) : 0;
    // No row carries the window total when the page is empty (_count=0, or an offset past the end): count apart.
    if (!rows.length && (query.offset > 0 || query.count === 0)) {
      const [c] = await this.q(tx).query<{ n: string }>(
        `SELECT (SELECT count(*) FROM ${cond(shared)} ${query.patientId ? 'AND false' : ''})
              + (SELECT count(*) FROM ${cond(owned)} ${own}) AS n`,
        [...params, ...at, ...params, ...at, ...(query.patientId ? [query.patientId] : [])],
      );
      total = Number(c.n);
    }
    return { versions: rows.map((r) => toStored(r, false)), total };
  }

  /**
   * Writes new versions: appends each to history and makes it current, with one statement per
   * table for the whole batch. When a resource's owning patient changed (or it gained or lost one),
   * its earlier versions move with it, so that its history always lives beside its current version.
   */
  async writeVersions(tx: Tx, items: Array<{ version: NewVersion; previousPatientId: string | null | undefined }>): Promise<void> {
    for (const { version: v, previousPatientId } of items) {
      if (previousPatientId !== undefined && previousPatientId !== v.patientId) {
        await this.moveHistory(tx, v.resourceType, v.id, previousPatientId, v.patientId);
      }
    }
    const keptOnce = items.map((i) => i.version).filter((v) => KEPT_ONCE_TYPES.has(v.resourceType));
    const versioned = items.map((i) => i.version).filter((v) => !KEPT_ONCE_TYPES.has(v.resourceType));
    const patientOwned = versioned.filter((v) => v.patientId);
    const shared = versioned.filter((v) => !v.patientId);
    for (const chunk of uniqueChunks(patientOwned, versionKey)) await this.insertVersions(tx, chunk, true);
    for (const chunk of uniqueChunks(shared, versionKey)) await this.insertVersions(tx, chunk, false);
    if (keptOnce.length) await this.insertKeptOnce(tx, keptOnce);
  }

  /** Resources of a type kept once: their first and only version, in the current table alone; a second version is refused. */
  private async insertKeptOnce(tx: Tx, versions: NewVersion[]): Promise<void> {
    const changed = versions.find((v) => v.versionId !== 1 || v.deleted || v.patientId || isEncryptedType(v.resourceType));
    if (changed) throw new Error(`${changed.resourceType}/${changed.id}: a ${changed.resourceType} is written once and never changed`);
    // The documents travel as one JSON array, not as a text[] of documents: a text[] parameter is
    // escaped element by element on the way out and parsed back by PostgreSQL (for a flush of
    // AuditEvents, 1.7 kB each, that cost more than the insert).
    await tx.query(
      `INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted, content)
       SELECT v.resource_type, v.id, 1, v.last_updated, false, j.content
       FROM unnest(?::text[], ?::text[], ?::timestamptz[]) WITH ORDINALITY AS v(resource_type, id, last_updated, n)
       JOIN json_array_elements(?::json) WITH ORDINALITY AS j(content, n) USING (n)`,
      [versions.map((v) => v.resourceType), versions.map((v) => v.id), versions.map((v) => v.lastUpdated), `[${versions.map((v) => v.json).join(',')}]`],
    );
  }

  private async insertVersions(tx: Tx, versions: NewVersion[], patientOwned: boolean): Promise<void> {
    const [current, history] = patientOwned ? ['fhir_patient_resource', 'fhir_patient_resource_history'] : ['fhir_resource', 'fhir_resource_history'];
    const keyCols = patientOwned ? 'patient_id, resource_type, id' : 'resource_type, id';
    // unnest: one bind parameter per column however many versions, and the same statement text
    // for every batch (parsed and planned once per connection, not per write).
    const encrypted = versions.map((v) => isEncryptedType(v.resourceType) && v.json !== null);
    // Only first versions: a plain INSERT. An upsert also fires the current table's UPDATE audit
    // trigger, which costs as much as the insert of a small resource even when nothing conflicts.
    // (A first version never replaces a current row: its history row would collide first.)
    const upsert = versions.some((v) => v.versionId !== 1)
      ? `ON CONFLICT (${keyCols}) DO UPDATE SET version_id = EXCLUDED.version_id, last_updated = EXCLUDED.last_updated,
         deleted = EXCLUDED.deleted, content = EXCLUDED.content, content_enc = EXCLUDED.content_enc, key_id = EXCLUDED.key_id`
      : '';
    await tx.query(
      `WITH v AS (
         SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::integer[], ?::timestamptz[], ?::boolean[], ?::text[], ?::boolean[], ?::text[], ?::smallint[])
           AS v(patient_id, resource_type, id, version_id, last_updated, deleted, json, encrypted, request_method, response_status)),
       h AS (
         INSERT INTO ${history} (${keyCols}, version_id, last_updated, deleted, content, content_enc, key_id, request_method, response_status)
         SELECT ${keyCols}, version_id, last_updated, deleted,
                CASE WHEN encrypted THEN NULL ELSE json::json END,
                CASE WHEN encrypted THEN pgp_sym_encrypt(json, ?, '${PGP_OPTIONS}') END,
                CASE WHEN encrypted THEN ?::smallint END,
                request_method, response_status
         FROM v
         RETURNING *)
       INSERT INTO ${current} (${keyCols}, version_id, last_updated, deleted, content, content_enc, key_id)
       SELECT ${keyCols}, version_id, last_updated, deleted, content, content_enc, key_id FROM h
       ${upsert}`,
      [
        versions.map((v) => v.patientId),
        versions.map((v) => v.resourceType),
        versions.map((v) => v.id),
        versions.map((v) => v.versionId),
        versions.map((v) => v.lastUpdated),
        versions.map((v) => v.deleted),
        versions.map((v) => v.json),
        encrypted,
        versions.map((v) => v.request?.method ?? null),
        versions.map((v) => v.request?.status ?? null),
        this.keys.dataKey(),
        this.keys.activeKeyId,
      ],
    );
  }

  private async moveHistory(tx: Tx, resourceType: string, id: string, from: string | null, to: string | null): Promise<void> {
    const fromWhere = from ? 'patient_id = ? AND resource_type = ? AND id = ?' : 'resource_type = ? AND id = ?';
    const fromParams = from ? [from, resourceType, id] : [resourceType, id];
    const [fromCur, fromHist] = from ? ['fhir_patient_resource', 'fhir_patient_resource_history'] : ['fhir_resource', 'fhir_resource_history'];
    const toHist = to ? 'fhir_patient_resource_history' : 'fhir_resource_history';
    const cols = 'resource_type, id, version_id, last_updated, deleted, content, content_enc, key_id, request_method, response_status';
    // Each version keeps the owner it was written under (a row moved before keeps its first one), so
    // that the new owner's patient-context token is not shown what was another patient's.
    const filedUnder = from ? 'patient_id' : 'NULL::text';
    await tx.query(
      `INSERT INTO ${toHist} (${to ? 'patient_id, ' : ''}${cols}, moved, filed_patient_id)
       SELECT ${to ? '?, ' : ''}${cols}, true, CASE WHEN moved THEN filed_patient_id ELSE ${filedUnder} END FROM ${fromHist} WHERE ${fromWhere}`,
      [...(to ? [to] : []), ...fromParams],
    );
    await tx.query(`DELETE FROM ${fromHist} WHERE ${fromWhere}`, fromParams);
    await tx.query(`DELETE FROM ${fromCur} WHERE ${fromWhere}`, fromParams);
  }
}

const versionKey = (v: NewVersion) => `${v.resourceType}/${v.id}`;

/**
 * A row as served, once its content is shown to be the row's own (else a 500 that serves nothing).
 * `current`: a current version, whose content must also refer to the row's patient.
 */
function toStored(r: Row, current: boolean): StoredVersion {
  assertIntegrity({ resourceType: r.resource_type, id: r.id, versionId: Number(r.version_id), patientId: r.patient_id, json: r.json, sealed: r.sealed }, current);
  return {
    resourceType: r.resource_type,
    id: r.id,
    versionId: Number(r.version_id),
    lastUpdated: new Date(r.last_updated),
    deleted: r.deleted,
    patientId: r.patient_id,
    ...(r.moved ? { filedPatientId: r.filed_patient_id ?? null } : {}),
    json: r.json,
    ...(r.request_method ? { request: { method: r.request_method as HistoryRequest['method'], status: Number(r.response_status) } } : {}),
  };
}
