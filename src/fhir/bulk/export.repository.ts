import { Injectable } from '@nestjs/common';
import { MikroORM, type PostgreSqlConnection } from '@mikro-orm/postgresql';
import { KeyRing, PGP_OPTIONS } from '../../crypto/key-ring';
import { DatabaseService, type Tx, type TxContext } from '../../database/database.service';
import { storedJsonSql } from '../store/stored-json';

export type ExportLevel = 'system' | 'patient' | 'group';
export type ExportStatus = 'accepted' | 'in-progress' | 'completed' | 'failed' | 'cancelled';

/** What an export covers, as decided at kick-off. */
export interface ExportParams {
  types: string[];
  since?: string;
  /** Patient and Group level: only these patients' compartments (all patients when absent). */
  patients?: string[];
  groupId?: string;
}

export interface ExportRow {
  id: string;
  clientId: string;
  level: ExportLevel;
  requestUrl: string;
  params: ExportParams;
  deidentified: boolean;
  status: ExportStatus;
  transactionTime: Date;
  attempt: number;
  exported: number;
  currentType: string | null;
  error: string | null;
  expiresAt: Date | null;
}

export interface ExportFile {
  seq: number;
  kind: 'output' | 'error';
  resourceType: string;
  count: number;
  bytes: number;
}

/** One stored resource as the export reads it. */
export interface ExportedResource {
  id: string;
  patientId: string | null;
  json: string;
  /** Whether the text came from content_enc (the row integrity check wants to know). */
  sealed: boolean;
}

interface Row {
  id: string;
  client_id: string;
  level: ExportLevel;
  request_url: string;
  params: ExportParams;
  deidentified: boolean;
  status: ExportStatus;
  transaction_time: Date;
  attempt: number;
  exported: number;
  current_type: string | null;
  error: string | null;
  expires_at: Date | null;
}

const WORKER: TxContext = { actor: 'system:bulk-export' };

/** Notified when an export is accepted, so that a worker enqueues it at once. */
export const BULK_EXPORT_CHANNEL = 'fhir_bulk_export';

/** SQL over bulk_exports and bulk_export_files, and the snapshot reads of the resource store. */
@Injectable()
export class ExportRepository {
  constructor(
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
    private readonly orm: MikroORM,
  ) {}

  async create(ctx: TxContext, e: Omit<ExportRow, 'status' | 'attempt' | 'exported' | 'currentType' | 'error' | 'expiresAt'>): Promise<void> {
    await this.db.transaction(ctx, async (tx) => {
      await tx.query(
        `INSERT INTO bulk_exports (id, client_id, level, request_url, params, deidentified, transaction_time)
         VALUES (?, ?, ?, ?, ?::jsonb, ?, ?)`,
        [e.id, e.clientId, e.level, e.requestUrl, JSON.stringify(e.params), e.deidentified, e.transactionTime],
      );
      await tx.query('SELECT pg_notify(?, ?)', [BULK_EXPORT_CHANNEL, e.id]);
    });
  }

  /** The export, if it exists and has not expired. */
  async find(id: string): Promise<ExportRow | undefined> {
    if (!isUuid(id)) return undefined;
    const rows = await this.db.query<Row>('SELECT * FROM bulk_exports WHERE id = ? AND (expires_at IS NULL OR expires_at > now())', [id]);
    return rows[0] && toExport(rows[0]);
  }

  /** The files of the export's current attempt, in order. */
  async files(e: ExportRow): Promise<ExportFile[]> {
    const rows = await this.db.query<{ seq: number; kind: 'output' | 'error'; resource_type: string; count: number; bytes: number }>(
      'SELECT seq, kind, resource_type, count, bytes FROM bulk_export_files WHERE export_id = ? AND attempt = ? ORDER BY seq',
      [e.id, e.attempt],
    );
    return rows.map((r) => ({ seq: r.seq, kind: r.kind, resourceType: r.resource_type, count: r.count, bytes: r.bytes }));
  }

  /** One file's NDJSON text (at most one part: bounded in size), with its kind and type. */
  async fileContent(e: ExportRow, seq: number): Promise<{ kind: 'output' | 'error'; resourceType: string; text: string } | undefined> {
    const rows = await this.db.query<{ kind: 'output' | 'error'; resource_type: string; text: string }>(
      'SELECT kind, resource_type, fhir_decrypt(content_enc, key_id, ?::text[]) AS text FROM bulk_export_files WHERE export_id = ? AND attempt = ? AND seq = ?',
      [this.keys.decryptionKeys(), e.id, e.attempt, seq],
    );
    return rows[0] && { kind: rows[0].kind, resourceType: rows[0].resource_type, text: rows[0].text };
  }

  /** Cancels a running export, or removes a finished one's files (the client is done with them). */
  async cancel(ctx: TxContext, id: string, retentionMs: number): Promise<boolean> {
    return this.db.transaction(ctx, async (tx) => {
      const rows = await tx.query<{ id: string }>(
        `UPDATE bulk_exports SET status = 'cancelled', expires_at = now() + (? * interval '1 millisecond')
         WHERE id = ? AND status <> 'cancelled' RETURNING id`,
        [retentionMs, id],
      );
      if (rows.length) await tx.query('DELETE FROM bulk_export_files WHERE export_id = ?', [id]);
      return rows.length > 0;
    });
  }

  // ---- worker side -------------------------------------------------------------------------

  /** Accepted exports not yet handed to the queue, locked for the caller's transaction. */
  async claimToEnqueue(limit: number, publish: (ids: string[]) => Promise<void>): Promise<number> {
    return this.db.transaction(WORKER, async (tx) => {
      const rows = await tx.query<{ id: string }>(
        `SELECT id FROM bulk_exports WHERE status = 'accepted' AND enqueued_at IS NULL
         ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (!rows.length) return 0;
      await publish(rows.map((r) => r.id));
      await tx.query('UPDATE bulk_exports SET enqueued_at = now() WHERE id = ANY(?::uuid[])', [rows.map((r) => r.id)]);
      return rows.length;
    });
  }

  /** Removes expired exports and their files. */
  async removeExpired(): Promise<number> {
    return this.db.transaction(WORKER, async (tx) => {
      const rows = await tx.query<{ id: string }>('DELETE FROM bulk_exports WHERE expires_at <= now() RETURNING id');
      return rows.length;
    });
  }

  /**
   * Starts an attempt: the export moves to in-progress under a new attempt number, and files of
   * earlier attempts go. Undefined when the export is finished, cancelled or gone.
   */
  async startAttempt(id: string): Promise<ExportRow | undefined> {
    return this.db.transaction(WORKER, async (tx) => {
      const rows = await tx.query<Row>(
        `UPDATE bulk_exports SET status = 'in-progress', attempt = attempt + 1, exported = 0, current_type = NULL, error = NULL
         WHERE id = ? AND status IN ('accepted', 'in-progress') RETURNING *`,
        [id],
      );
      if (!rows.length) return undefined;
      await tx.query('DELETE FROM bulk_export_files WHERE export_id = ? AND attempt < ?', [id, rows[0].attempt]);
      return toExport(rows[0]);
    });
  }

  /** Stores one file part, encrypted, unless the attempt has been superseded or cancelled (false). */
  async writeFile(e: ExportRow, file: ExportFile, text: string): Promise<boolean> {
    return this.db.transaction(WORKER, async (tx) => {
      const rows = await tx.query(
        `INSERT INTO bulk_export_files (export_id, attempt, seq, kind, resource_type, count, bytes, content_enc, key_id)
         SELECT ?, ?, ?, ?, ?, ?, ?, pgp_sym_encrypt(?, ?, '${PGP_OPTIONS}'), ?
         WHERE EXISTS (SELECT 1 FROM bulk_exports WHERE id = ? AND attempt = ? AND status = 'in-progress')
         RETURNING seq`,
        [e.id, e.attempt, file.seq, file.kind, file.resourceType, file.count, file.bytes, text, this.keys.dataKey(), this.keys.activeKeyId, e.id, e.attempt],
      );
      return rows.length > 0;
    });
  }

  /** Records progress; false when the attempt no longer runs (cancelled or superseded). */
  async progress(e: ExportRow, exported: number, currentType: string): Promise<boolean> {
    return this.db.transaction(WORKER, async (tx) => {
      const rows = await tx.query(
        `UPDATE bulk_exports SET exported = ?, current_type = ? WHERE id = ? AND attempt = ? AND status = 'in-progress' RETURNING id`,
        [exported, currentType, e.id, e.attempt],
      );
      return rows.length > 0;
    });
  }

  async complete(e: ExportRow, exported: number, retentionMs: number): Promise<boolean> {
    return this.db.transaction(WORKER, async (tx) => {
      const rows = await tx.query(
        `UPDATE bulk_exports SET status = 'completed', exported = ?, current_type = NULL, completed_at = now(),
           expires_at = now() + (? * interval '1 millisecond')
         WHERE id = ? AND attempt = ? AND status = 'in-progress' RETURNING id`,
        [exported, retentionMs, e.id, e.attempt],
      );
      return rows.length > 0;
    });
  }

  async fail(id: string, message: string, retentionMs: number): Promise<void> {
    await this.db.transaction(WORKER, async (tx) => {
      await tx.query(
        `UPDATE bulk_exports SET status = 'failed', error = ?, completed_at = now(), expires_at = now() + (? * interval '1 millisecond')
         WHERE id = ? AND status IN ('accepted', 'in-progress')`,
        [message, retentionMs, id],
      );
      await tx.query('DELETE FROM bulk_export_files WHERE export_id = ?', [id]);
    });
  }

  /**
   * Runs `fn` in a read-only REPEATABLE READ transaction: every page it reads sees the store as
   * it was when the first was read, so an export is consistent however long it takes.
   */
  async snapshot<T>(fn: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    const knex = (this.orm.em.getConnection() as PostgreSqlConnection).getKnex();
    return knex.transaction(async (trx) => {
      const query: Tx['query'] = async <R>(sql: string, params: unknown[] = []) => (await trx.raw(sql, params as never[])).rows as R[];
      await query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      return fn(new SnapshotReader(query, this.keys));
    });
  }
}

/** Pages of current, not deleted resources of one type, in id order (keyset), decrypted. */
export class SnapshotReader {
  constructor(
    private readonly query: Tx['query'],
    private readonly keys: KeyRing,
  ) {}

  /** The ids of the model registry's Devices (ai_models) in this snapshot: de-identified exports keep their registry fields. */
  async registryDeviceIds(): Promise<Set<string>> {
    return new Set((await this.query<{ id: string }>('SELECT id FROM ai_models')).map((r) => r.id));
  }

  /**
   * @param shared also resources of no patient (system level); otherwise the patient compartment only.
   * @param patients only these patients' resources (undefined: every patient).
   */
  async page(type: string, after: string, limit: number, opts: { shared: boolean; patients?: string[]; since?: string }): Promise<ExportedResource[]> {
    const filter = (patientTable: boolean) => {
      const where = ['resource_type = ?', 'NOT deleted', 'id > ?'];
      const params: unknown[] = [type, after];
      if (opts.since) {
        where.push('last_updated > ?::timestamptz');
        params.push(opts.since);
      }
      if (patientTable && opts.patients) {
        where.push('patient_id = ANY(?::text[])');
        params.push(opts.patients);
      }
      return { where: where.join(' AND '), params };
    };
    const p = filter(true);
    const branches = [`(SELECT patient_id::text AS patient_id, id, content, content_enc, key_id FROM fhir_patient_resource WHERE ${p.where} ORDER BY id LIMIT ?)`];
    const params: unknown[] = [...p.params, limit];
    if (opts.shared) {
      const s = filter(false);
      branches.push(`(SELECT NULL::text, id, content, content_enc, key_id FROM fhir_resource WHERE ${s.where} ORDER BY id LIMIT ?)`);
      params.push(...s.params, limit);
    }
    // Decrypt only the rows of the page.
    return this.query<ExportedResource>(
      `SELECT patient_id AS "patientId", id, ${storedJsonSql()} AS json, content_enc IS NOT NULL AS sealed
       FROM (${branches.join(' UNION ALL ')}) u ORDER BY id LIMIT ?`,
      [this.keys.decryptionKeys(), ...params, limit],
    );
  }
}

function toExport(r: Row): ExportRow {
  return {
    id: r.id,
    clientId: r.client_id,
    level: r.level,
    requestUrl: r.request_url,
    params: r.params,
    deidentified: r.deidentified,
    status: r.status,
    transactionTime: new Date(r.transaction_time),
    attempt: r.attempt,
    exported: r.exported,
    currentType: r.current_type,
    error: r.error,
    expiresAt: r.expires_at ? new Date(r.expires_at) : null,
  };
}

export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}
