import { Injectable } from '@nestjs/common';
import { DatabaseService, type Tx } from '../database/database.service';

/** The NOTIFY channel that tells a worker's dispatcher a sync run is waiting to be queued. */
export const EXCHANGE_SYNC_CHANNEL = 'exchange_sync';

export type SyncTrigger = 'manual' | 'schedule';
export type SyncStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface SyncRunRow {
  id: number;
  connectionId: string;
  trigger: SyncTrigger;
  status: SyncStatus;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  resourcesIn: number;
  unchanged: number;
  failed: number;
  /** Local copies deleted because the remote deleted the resource. */
  deleted: number;
  error: string | null;
}

type Queryable = Pick<Tx, 'query'>;

const COLUMNS = 'id, connection_id, trigger, status, created_at, started_at, finished_at, resources_in, unchanged, failed, deleted, error';

/** SQL over `exchange_sync_runs`: one row per pull of one connection. */
@Injectable()
export class SyncRunRepository {
  constructor(private readonly db: DatabaseService) {}

  /**
   * Asks for a pull of a connection: a new queued run, or the run already queued or running (at
   * most one is open per connection). The API only writes this row; a worker's dispatcher moves it
   * to the exchange-sync queue (so asking works while Redis is down).
   */
  async request(connectionId: string, trigger: SyncTrigger, tx: Queryable = this.db): Promise<{ run: SyncRunRow; created: boolean }> {
    const [inserted] = await tx.query<Row>(
      `INSERT INTO exchange_sync_runs (connection_id, trigger) VALUES (?, ?)
       ON CONFLICT (connection_id) WHERE status IN ('queued', 'running') DO NOTHING RETURNING ${COLUMNS}`,
      [connectionId, trigger],
    );
    if (inserted) {
      await tx.query('SELECT pg_notify(?, ?)', [EXCHANGE_SYNC_CHANNEL, String(inserted.id)]);
      return { run: toRun(inserted), created: true };
    }
    const [open] = await tx.query<Row>(`SELECT ${COLUMNS} FROM exchange_sync_runs WHERE connection_id = ? AND status IN ('queued', 'running')`, [connectionId]);
    if (!open) return this.request(connectionId, trigger, tx); // it closed in between
    return { run: toRun(open), created: false };
  }

  async get(id: number, tx: Queryable = this.db): Promise<SyncRunRow | undefined> {
    const [row] = await tx.query<Row>(`SELECT ${COLUMNS} FROM exchange_sync_runs WHERE id = ?`, [id]);
    return row && toRun(row);
  }

  /** A connection's most recent runs, newest first. */
  async recent(connectionId: string, limit = 10): Promise<SyncRunRow[]> {
    return (await this.db.query<Row>(`SELECT ${COLUMNS} FROM exchange_sync_runs WHERE connection_id = ? ORDER BY id DESC LIMIT ?`, [connectionId, limit])).map(toRun);
  }
}

interface Row {
  id: string;
  connection_id: string;
  trigger: SyncTrigger;
  status: SyncStatus;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  resources_in: number;
  unchanged: number;
  failed: number;
  deleted: number;
  error: string | null;
}

function toRun(r: Row): SyncRunRow {
  return {
    id: Number(r.id),
    connectionId: r.connection_id,
    trigger: r.trigger,
    status: r.status,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    resourcesIn: r.resources_in,
    unchanged: r.unchanged,
    failed: r.failed,
    deleted: r.deleted,
    error: r.error,
  };
}
