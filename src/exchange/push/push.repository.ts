import { Injectable } from '@nestjs/common';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { DatabaseService, type Tx, type TxContext } from '../../database/database.service';

/** The NOTIFY channel that tells a worker's push dispatcher rows are waiting to be queued. */
export const EXCHANGE_PUSH_CHANNEL = 'exchange_push';

/** Writes by the exchange are attributed to this actor. */
export const EXCHANGE_ACTOR: TxContext = { actor: 'system:exchange' };

export type PushStatus = 'pending' | 'sent' | 'dead';
export const PUSH_STATUSES: readonly PushStatus[] = ['pending', 'sent', 'dead'];

export interface PushRow {
  id: number;
  connectionId: string;
  resourceType: string;
  resourceId: string;
  versionId: number;
  patientId: string | null;
  status: PushStatus;
  attempts: number;
  replays: number;
  lastError: OperationOutcome | null;
  remoteLocations: string[] | null;
  createdAt: Date;
  updatedAt: Date;
  enqueuedAt: Date | null;
  sentAt: Date | null;
}

export interface NewPush {
  connectionId: string;
  resourceType: string;
  resourceId: string;
  versionId: number;
  patientId: string | null;
}

type Queryable = Pick<Tx, 'query'>;

const COLUMNS = 'id, connection_id, resource_type, resource_id, version_id, patient_id, status, attempts, replays, last_error, remote_locations, created_at, updated_at, enqueued_at, sent_at';

/** The BullMQ job id of a push row: `push-<id>`, and `push-<id>-r<n>` after the n-th replay (no ':'). */
export function pushJobId(row: { id: number; replays: number }): string {
  return row.replays ? `push-${row.id}-r${row.replays}` : `push-${row.id}`;
}

/** SQL over `exchange_push`: one row per resource version to send to one connection; 'dead' rows are the dead-letter list. */
@Injectable()
export class PushRepository {
  constructor(private readonly db: DatabaseService) {}

  /** Whether any connection is active: while none is, no event can be pushed (checked before reading anything). */
  async anyActiveConnection(tx?: Queryable): Promise<boolean> {
    const sql = `SELECT EXISTS (SELECT 1 FROM exchange_connections WHERE status = 'active') AS any`;
    const [row] = await (tx ? tx.query<{ any: boolean }>(sql) : this.db.queryPrepared<{ any: boolean }>(sql));
    return !!row?.any;
  }

  /**
   * The patient's home EHR: the connection its Patient was pulled from (the earliest if several),
   * and whether it is active; undefined when the patient came from nowhere.
   */
  async homeConnection(patientId: string, tx: Queryable = this.db): Promise<{ connectionId: string; active: boolean } | undefined> {
    const [row] = await tx.query<{ connection_id: string; status: string }>(
      `SELECT r.connection_id, c.status FROM exchange_remote_resources r JOIN exchange_connections c ON c.id = r.connection_id
       WHERE r.resource_type = 'Patient' AND r.local_id = ? ORDER BY r.synced_at, r.connection_id LIMIT 1`,
      [patientId],
    );
    return row && { connectionId: row.connection_id, active: row.status === 'active' };
  }

  /** Whether an earlier version of the resource was recorded to go to the connection (its later versions follow it). */
  async wasPushed(connectionId: string, resourceType: string, resourceId: string, beforeVersion: number, tx: Queryable = this.db): Promise<boolean> {
    const [row] = await tx.query<{ pushed: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM exchange_push WHERE connection_id = ? AND resource_type = ? AND resource_id = ? AND version_id < ?) AS pushed`,
      [connectionId, resourceType, resourceId, beforeVersion],
    );
    return !!row?.pushed;
  }

  /** Remote ids of local resources pulled from the connection: "<Type>/<localId>" -> remote id. */
  async remoteIds(connectionId: string, keys: Array<{ resourceType: string; id: string }>, tx: Queryable = this.db): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (!keys.length) return found;
    const rows = await tx.query<{ resource_type: string; local_id: string; remote_id: string }>(
      `SELECT r.resource_type, r.local_id, r.remote_id FROM exchange_remote_resources r
       JOIN unnest(?::text[], ?::text[]) AS k(resource_type, local_id) ON k.resource_type = r.resource_type AND k.local_id = r.local_id
       WHERE r.connection_id = ?`,
      [keys.map((k) => k.resourceType), keys.map((k) => k.id), connectionId],
    );
    for (const r of rows) found.set(`${r.resource_type}/${r.local_id}`, r.remote_id);
    return found;
  }

  /** A new pending push (and a wake-up for the dispatcher); undefined when this version was already recorded for the connection. */
  async insert(p: NewPush): Promise<number | undefined> {
    return this.db.transaction(EXCHANGE_ACTOR, async (tx) => {
      const [row] = await tx.query<{ id: string }>(
        `INSERT INTO exchange_push (connection_id, resource_type, resource_id, version_id, patient_id) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (connection_id, resource_type, resource_id, version_id) DO NOTHING RETURNING id`,
        [p.connectionId, p.resourceType, p.resourceId, p.versionId, p.patientId],
      );
      if (!row) return undefined;
      await tx.query('SELECT pg_notify(?, ?)', [EXCHANGE_PUSH_CHANNEL, row.id]);
      return Number(row.id);
    });
  }

  /** Claims pending rows not yet queued, hands them to `publish`, marks them queued; how many. */
  async claimToEnqueue(limit: number, publish: (rows: Array<{ id: number; replays: number }>) => Promise<void>): Promise<number> {
    return this.db.transaction(EXCHANGE_ACTOR, async (tx) => {
      const rows = await tx.query<{ id: string; replays: number }>(
        `SELECT id, replays FROM exchange_push WHERE status = 'pending' AND enqueued_at IS NULL ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (!rows.length) return 0;
      await publish(rows.map((r) => ({ id: Number(r.id), replays: r.replays })));
      await tx.query('UPDATE exchange_push SET enqueued_at = now() WHERE id = ANY(?::bigint[])', [rows.map((r) => r.id)]);
      return rows.length;
    });
  }

  async get(id: number, tx: Queryable = this.db): Promise<PushRow | undefined> {
    const [row] = await tx.query<Row>(`SELECT ${COLUMNS} FROM exchange_push WHERE id = ?`, [id]);
    return row && toPush(row);
  }

  /** A connection's pushes, newest first, optionally of one status. */
  async list(connectionId: string, status?: PushStatus, limit = 100): Promise<PushRow[]> {
    const rows = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM exchange_push WHERE connection_id = ? AND (?::text IS NULL OR status = ?::text) ORDER BY id DESC LIMIT ?`,
      [connectionId, status ?? null, status ?? null, limit],
    );
    return rows.map(toPush);
  }

  /** Runs `fn` on the row locked (so a job and a replay never change it at once). */
  async locked<T>(id: number, fn: (tx: Tx, row: PushRow | undefined) => Promise<T>): Promise<T> {
    return this.db.transaction(EXCHANGE_ACTOR, async (tx) => {
      const [row] = await tx.query<Row>(`SELECT ${COLUMNS} FROM exchange_push WHERE id = ? FOR UPDATE`, [id]);
      return fn(tx, row && toPush(row));
    });
  }

  /** The push arrived: sent, with the remote's locations; an earlier attempt's error no longer stands. */
  async markSent(tx: Queryable, id: number, locations: string[]): Promise<void> {
    await tx.query(`UPDATE exchange_push SET status = 'sent', attempts = attempts + 1, sent_at = now(), updated_at = now(), remote_locations = ?::text[], last_error = NULL WHERE id = ?`, [locations, id]);
  }

  /** Records a failed attempt; `dead`: it was the last (or cannot succeed), the row joins the dead-letter list. */
  async markFailed(tx: Queryable, id: number, outcome: OperationOutcome, dead: boolean): Promise<void> {
    await tx.query(`UPDATE exchange_push SET attempts = attempts + 1, last_error = ?::jsonb, status = ?, updated_at = now() WHERE id = ?`, [JSON.stringify(outcome), dead ? 'dead' : 'pending', id]);
  }

  /** A dead row pending again, its attempts reset, to be queued under a new job id. */
  async markReplayed(tx: Queryable, id: number): Promise<PushRow> {
    const [row] = await tx.query<Row>(
      `UPDATE exchange_push SET status = 'pending', attempts = 0, replays = replays + 1, enqueued_at = NULL, updated_at = now() WHERE id = ? RETURNING ${COLUMNS}`,
      [id],
    );
    await tx.query('SELECT pg_notify(?, ?)', [EXCHANGE_PUSH_CHANNEL, String(id)]);
    return toPush(row);
  }
}

interface Row {
  id: string;
  connection_id: string;
  resource_type: string;
  resource_id: string;
  version_id: number;
  patient_id: string | null;
  status: PushStatus;
  attempts: number;
  replays: number;
  last_error: OperationOutcome | null;
  remote_locations: string[] | null;
  // timestamptz may arrive as text (the pg type parsers are configured elsewhere)
  created_at: Date | string;
  updated_at: Date | string;
  enqueued_at: Date | string | null;
  sent_at: Date | string | null;
}

function toPush(r: Row): PushRow {
  return {
    id: Number(r.id),
    connectionId: r.connection_id,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    versionId: r.version_id,
    patientId: r.patient_id,
    status: r.status,
    attempts: r.attempts,
    replays: r.replays,
    lastError: r.last_error,
    remoteLocations: r.remote_locations,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    enqueuedAt: r.enqueued_at === null ? null : new Date(r.enqueued_at),
    sentAt: r.sent_at === null ? null : new Date(r.sent_at),
  };
}
