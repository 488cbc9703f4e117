import { Injectable } from '@nestjs/common';
import { DatabaseService, type Tx, type TxContext } from '../../database/database.service';
import type { SyncRunRow } from '../sync-runs.repository';

/** Whom the pull's own bookkeeping (and its writes through the write path) are attributed to. */
export const EXCHANGE_ACTOR: TxContext = { actor: 'system:exchange' };

type Queryable = Pick<Tx, 'query'>;

export interface SyncCursor {
  highWater: Date | null;
  nextUrl: string | null;
}

export interface RemoteMapping {
  localId: string;
  contentSha256: Buffer | null;
}

export interface RunCounts {
  in: number;
  unchanged: number;
  failed: number;
  /** Local copies deleted because the remote deleted the resource. */
  deleted?: number;
}

/** SQL of the pull: runs (claim, start, count, finish), cursors, the remote-to-local id mapping, due connections. */
@Injectable()
export class PullRepository {
  constructor(private readonly db: DatabaseService) {}

  /** Queued runs not yet handed to the queue, locked while `publish` hands them over, then marked. */
  async claimToEnqueue(limit: number, publish: (runIds: number[]) => Promise<void>): Promise<number> {
    return this.db.transaction(EXCHANGE_ACTOR, async (tx) => {
      const rows = await tx.query<{ id: string }>(
        `SELECT id FROM exchange_sync_runs WHERE status = 'queued' AND enqueued_at IS NULL ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (!rows.length) return 0;
      const ids = rows.map((r) => Number(r.id));
      await publish(ids);
      await tx.query('UPDATE exchange_sync_runs SET enqueued_at = now() WHERE id = ANY(?::bigint[])', [ids]);
      return ids.length;
    });
  }

  /** Active connections with a sync interval whose latest run was created longer ago than it (or never). */
  /** Open runs handed to the queue more than `seconds` ago (whose job should exist by now). */
  async openEnqueuedBefore(seconds: number): Promise<number[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM exchange_sync_runs WHERE status IN ('queued', 'running') AND enqueued_at < now() - make_interval(secs => ?) ORDER BY id LIMIT 100`,
      [seconds],
    );
    return rows.map((r) => Number(r.id));
  }

  /** Puts runs back to be queued again (their cursors stay: the next attempt resumes where they stopped). */
  async requeue(runIds: readonly number[]): Promise<void> {
    if (!runIds.length) return;
    await this.db.transaction(EXCHANGE_ACTOR, (tx) =>
      tx.query(`UPDATE exchange_sync_runs SET status = 'queued', enqueued_at = NULL WHERE id = ANY(?::bigint[]) AND status IN ('queued', 'running')`, [[...runIds]]),
    );
  }

  async dueConnections(): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT c.id FROM exchange_connections c
       WHERE c.status = 'active' AND c.sync_interval_seconds IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM exchange_sync_runs r WHERE r.connection_id = c.id AND r.created_at > now() - make_interval(secs => c.sync_interval_seconds))
       ORDER BY c.id`,
    );
    return rows.map((r) => r.id);
  }

  /** Marks the run running (keeping the first start time across attempts); undefined when it is finished or gone. */
  async start(runId: number): Promise<Pick<SyncRunRow, 'id' | 'connectionId'> | undefined> {
    const [row] = await this.db.transaction(EXCHANGE_ACTOR, (tx) =>
      tx.query<{ id: string; connection_id: string }>(
        `UPDATE exchange_sync_runs SET status = 'running', started_at = COALESCE(started_at, now())
         WHERE id = ? AND status IN ('queued', 'running') RETURNING id, connection_id`,
        [runId],
      ),
    );
    return row && { id: Number(row.id), connectionId: row.connection_id };
  }

  async cursor(tx: Queryable, connectionId: string, resourceType: string): Promise<SyncCursor> {
    // high_water as ISO text: the driver may hand timestamps over as text in PostgreSQL's own format.
    const [row] = await tx.query<{ high_water: string | null; next_url: string | null }>(
      `SELECT to_char(high_water AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS high_water, next_url FROM exchange_sync_cursors WHERE connection_id = ? AND resource_type = ?`,
      [connectionId, resourceType],
    );
    return { highWater: row?.high_water ? new Date(row.high_water) : null, nextUrl: row?.next_url ?? null };
  }

  async saveCursor(tx: Queryable, connectionId: string, resourceType: string, c: SyncCursor & { runId: number }): Promise<void> {
    await tx.query(
      `INSERT INTO exchange_sync_cursors (connection_id, resource_type, high_water, next_url, run_id) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (connection_id, resource_type) DO UPDATE SET high_water = EXCLUDED.high_water, next_url = EXCLUDED.next_url, run_id = EXCLUDED.run_id`,
      [connectionId, resourceType, c.highWater, c.nextUrl, c.runId],
    );
  }

  /** The local copies of remote resources (keyed `Type/remoteId`) among `keys`. */
  async mappings(tx: Queryable, connectionId: string, keys: Array<{ type: string; id: string }>): Promise<Map<string, RemoteMapping>> {
    const found = new Map<string, RemoteMapping>();
    if (!keys.length) return found;
    const rows = await tx.query<{ resource_type: string; remote_id: string; local_id: string; content_sha256: Buffer | null }>(
      `SELECT m.resource_type, m.remote_id, m.local_id, m.content_sha256 FROM exchange_remote_resources m
       JOIN unnest(?::text[], ?::text[]) AS k(resource_type, remote_id) ON k.resource_type = m.resource_type AND k.remote_id = m.remote_id
       WHERE m.connection_id = ?`,
      [keys.map((k) => k.type), keys.map((k) => k.id), connectionId],
    );
    for (const r of rows) found.set(`${r.resource_type}/${r.remote_id}`, { localId: r.local_id, contentSha256: r.content_sha256 });
    return found;
  }

  async upsertMapping(
    tx: Queryable,
    connectionId: string,
    m: { resourceType: string; remoteId: string; localId: string; remoteVersionId?: string; remoteLastUpdated?: string; contentSha256: Buffer },
  ): Promise<void> {
    await tx.query(
      `INSERT INTO exchange_remote_resources (connection_id, resource_type, remote_id, local_id, remote_version_id, remote_last_updated, content_sha256)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (connection_id, resource_type, remote_id) DO UPDATE SET local_id = EXCLUDED.local_id, remote_version_id = EXCLUDED.remote_version_id,
         remote_last_updated = EXCLUDED.remote_last_updated, content_sha256 = EXCLUDED.content_sha256, synced_at = now()`,
      [connectionId, m.resourceType, m.remoteId, m.localId, m.remoteVersionId ?? null, m.remoteLastUpdated ?? null, m.contentSha256],
    );
  }

  /** Maps a remote resource to one of ours (one we pushed there); kept as is when either side is mapped already. */
  async mapOwn(tx: Queryable, connectionId: string, m: { resourceType: string; remoteId: string; localId: string; contentSha256: Buffer }): Promise<void> {
    await tx.query(
      `INSERT INTO exchange_remote_resources (connection_id, resource_type, remote_id, local_id, content_sha256) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [connectionId, m.resourceType, m.remoteId, m.localId, m.contentSha256],
    );
  }

  async addRunCounts(tx: Queryable, runId: number, c: RunCounts): Promise<void> {
    if (!c.in && !c.unchanged && !c.failed && !c.deleted) return;
    await tx.query('UPDATE exchange_sync_runs SET resources_in = resources_in + ?, unchanged = unchanged + ?, failed = failed + ?, deleted = deleted + ? WHERE id = ?', [
      c.in,
      c.unchanged,
      c.failed,
      c.deleted ?? 0,
      runId,
    ]);
  }

  /**
   * Where to read a type's remote history from, for deletions: past the last look, else the
   * earliest remote change among the copies pulled (nothing older can delete one of them).
   * `pulled` is false when no copy of the type was pulled from the connection: nothing to delete.
   */
  async deletionCursor(tx: Queryable, connectionId: string, resourceType: string): Promise<{ since: Date | null; pulled: boolean }> {
    const [row] = await tx.query<{ since: string | null; pulled: boolean }>(
      `SELECT to_char(COALESCE(c.deleted_high_water, m.earliest) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS since, m.pulled
       FROM (SELECT min(remote_last_updated) AS earliest, count(*) > 0 AS pulled FROM exchange_remote_resources WHERE connection_id = ? AND resource_type = ?) m
       LEFT JOIN exchange_sync_cursors c ON c.connection_id = ? AND c.resource_type = ?`,
      [connectionId, resourceType, connectionId, resourceType],
    );
    return { since: row?.since ? new Date(row.since) : null, pulled: !!row?.pulled };
  }

  async saveDeletionCursor(tx: Queryable, connectionId: string, resourceType: string, highWater: Date | null, runId: number): Promise<void> {
    await tx.query(
      `INSERT INTO exchange_sync_cursors (connection_id, resource_type, deleted_high_water, run_id) VALUES (?, ?, ?, ?)
       ON CONFLICT (connection_id, resource_type) DO UPDATE SET deleted_high_water = EXCLUDED.deleted_high_water, run_id = EXCLUDED.run_id`,
      [connectionId, resourceType, highWater, runId],
    );
  }

  /** The remote resource is deleted: its content is forgotten, so that if it comes back it is stored again. */
  async forgetContent(tx: Queryable, connectionId: string, resourceType: string, remoteId: string): Promise<void> {
    await tx.query('UPDATE exchange_remote_resources SET content_sha256 = NULL, synced_at = now() WHERE connection_id = ? AND resource_type = ? AND remote_id = ?', [
      connectionId,
      resourceType,
      remoteId,
    ]);
  }

  /**
   * Ends a running run (succeeded or failed, with its error) and records it on the connection
   * (last_sync_at: when that run started). False when the run was not running (already ended).
   */
  async finish(tx: Queryable, runId: number, status: 'succeeded' | 'failed', error?: string): Promise<boolean> {
    const [row] = await tx.query<{ connection_id: string; started_at: Date | null }>(
      `UPDATE exchange_sync_runs SET status = ?, finished_at = now(), error = ? WHERE id = ? AND status IN ('queued', 'running') RETURNING connection_id, started_at`,
      [status, error ?? null, runId],
    );
    if (!row) return false;
    await tx.query('UPDATE exchange_connections SET last_sync_at = COALESCE(?, now()), last_sync_status = ?, updated_at = now() WHERE id = ?', [row.started_at, status, row.connection_id]);
    return true;
  }

  /** Serialises the page transactions of one connection (two attempts of a run never write the same page at once). */
  async lockConnection(tx: Queryable, connectionId: string): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`exchange-pull:${connectionId}`]);
  }
}
