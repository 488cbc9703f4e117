import { Injectable } from '@nestjs/common';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { KeyRing, PGP_OPTIONS } from '../crypto/key-ring';
import { DatabaseService, type Tx } from '../database/database.service';
import type { ConnectionAuth } from './remote-fhir.client';

export type AuthType = ConnectionAuth['type'];

/** A connection as stored, without its secret. */
export interface ConnectionRow {
  id: string;
  name: string;
  baseUrl: string;
  authType: AuthType;
  tokenUrl: string | null;
  clientId: string | null;
  scope: string | null;
  resourceTypes: string[] | null;
  syncIntervalSeconds: number | null;
  status: 'active' | 'off';
  lastCheckAt: Date | null;
  lastCheckOk: boolean | null;
  lastCheck: Record<string, unknown> | null;
  lastSyncAt: Date | null;
  lastSyncStatus: string | null;
  resourcesIn: number;
  resourcesOut: number;
  failures: number;
  createdAt: Date;
  updatedAt: Date;
}

/** What a new connection is made of; the secret is the bearer token or the client secret. */
export interface NewConnection {
  id: string;
  name: string;
  baseUrl: string;
  auth: ConnectionAuth;
  resourceTypes?: string[] | null;
  syncIntervalSeconds?: number | null;
}

export interface FailureRow {
  id: number;
  direction: 'check' | 'pull' | 'push';
  at: Date;
  runId: number | null;
  pushId: number | null;
  resource: string | null;
  outcome: OperationOutcome;
}

const COLUMNS = `id, name, base_url, auth_type, token_url, client_id, scope, resource_types, sync_interval_seconds, status,
  last_check_at, last_check_ok, last_check, last_sync_at, last_sync_status, resources_in, resources_out, failures, created_at, updated_at`;

type Queryable = Pick<Tx, 'query'>;

/** SQL over `exchange_connections` and `exchange_failures`. Secrets are encrypted and decrypted only in PostgreSQL, with the key ring's keys as bind parameters. */
@Injectable()
export class ConnectionRepository {
  constructor(
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
  ) {}

  async insert(tx: Queryable, c: NewConnection): Promise<void> {
    const secret = secretOf(c.auth);
    await tx.query(
      `INSERT INTO exchange_connections (id, name, base_url, auth_type, token_url, client_id, scope, secret_enc, key_id, resource_types, sync_interval_seconds)
       VALUES (?, ?, ?, ?, ?, ?, ?, CASE WHEN ?::text IS NULL THEN NULL ELSE pgp_sym_encrypt(?::text, ?, '${PGP_OPTIONS}') END, CASE WHEN ?::text IS NULL THEN NULL ELSE ?::smallint END, ?::text[], ?)`,
      [
        c.id,
        c.name,
        c.baseUrl,
        c.auth.type,
        c.auth.type === 'client_credentials' ? c.auth.tokenUrl : null,
        c.auth.type === 'client_credentials' ? c.auth.clientId : null,
        c.auth.type === 'client_credentials' ? (c.auth.scope ?? null) : null,
        secret,
        secret,
        this.keys.dataKey(),
        secret,
        this.keys.activeKeyId,
        c.resourceTypes ?? null,
        c.syncIntervalSeconds ?? null,
      ],
    );
  }

  async get(id: string, tx: Queryable = this.db): Promise<ConnectionRow | undefined> {
    const [row] = await tx.query<Row>(`SELECT ${COLUMNS} FROM exchange_connections WHERE id = ?`, [id]);
    return row && toConnection(row);
  }

  async list(): Promise<ConnectionRow[]> {
    return (await this.db.query<Row>(`SELECT ${COLUMNS} FROM exchange_connections ORDER BY name`)).map(toConnection);
  }

  /** How to authenticate to the connection's server, its secret decrypted; undefined when the connection is gone. */
  async authOf(id: string): Promise<ConnectionAuth | undefined> {
    const [row] = await this.db.query<{ auth_type: AuthType; token_url: string | null; client_id: string | null; scope: string | null; secret: string | null }>(
      `SELECT auth_type, token_url, client_id, scope, CASE WHEN secret_enc IS NULL THEN NULL ELSE fhir_decrypt(secret_enc, key_id, ?::text[]) END AS secret
       FROM exchange_connections WHERE id = ?`,
      [this.keys.decryptionKeys(), id],
    );
    if (!row) return undefined;
    if (row.auth_type === 'none') return { type: 'none' };
    if (row.auth_type === 'bearer') return { type: 'bearer', token: row.secret ?? '' };
    return { type: 'client_credentials', tokenUrl: row.token_url ?? '', clientId: row.client_id ?? '', clientSecret: row.secret ?? '', ...(row.scope ? { scope: row.scope } : {}) };
  }

  /** Adds to the connection's running totals (resources in and out, failures). */
  async addCounts(tx: Queryable, id: string, counts: { in?: number; out?: number; failures?: number }): Promise<void> {
    if (!counts.in && !counts.out && !counts.failures) return;
    await tx.query(
      'UPDATE exchange_connections SET resources_in = resources_in + ?, resources_out = resources_out + ?, failures = failures + ?, updated_at = now() WHERE id = ?',
      [counts.in ?? 0, counts.out ?? 0, counts.failures ?? 0, id],
    );
  }

  /** Records a failure (and counts it on the connection). */
  async addFailure(
    tx: Queryable,
    connectionId: string,
    f: { direction: FailureRow['direction']; outcome: OperationOutcome; runId?: number; pushId?: number; resource?: string },
  ): Promise<void> {
    await tx.query('INSERT INTO exchange_failures (connection_id, direction, run_id, push_id, resource, outcome) VALUES (?, ?, ?, ?, ?, ?::jsonb)', [
      connectionId,
      f.direction,
      f.runId ?? null,
      f.pushId ?? null,
      f.resource ?? null,
      JSON.stringify(f.outcome),
    ]);
    await this.addCounts(tx, connectionId, { failures: 1 });
  }

  /** The most recent failures, newest first. */
  async failures(connectionId: string, limit = 20): Promise<FailureRow[]> {
    const rows = await this.db.query<{ id: string; direction: FailureRow['direction']; at: Date; run_id: string | null; push_id: string | null; resource: string | null; outcome: OperationOutcome }>(
      'SELECT id, direction, at, run_id, push_id, resource, outcome FROM exchange_failures WHERE connection_id = ? ORDER BY id DESC LIMIT ?',
      [connectionId, limit],
    );
    return rows.map((r) => ({ id: Number(r.id), direction: r.direction, at: r.at, runId: r.run_id === null ? null : Number(r.run_id), pushId: r.push_id === null ? null : Number(r.push_id), resource: r.resource, outcome: r.outcome }));
  }
}

function secretOf(auth: ConnectionAuth): string | null {
  if (auth.type === 'bearer') return auth.token;
  if (auth.type === 'client_credentials') return auth.clientSecret;
  return null;
}

interface Row {
  id: string;
  name: string;
  base_url: string;
  auth_type: AuthType;
  token_url: string | null;
  client_id: string | null;
  scope: string | null;
  resource_types: string[] | null;
  sync_interval_seconds: number | null;
  status: 'active' | 'off';
  last_check_at: Date | null;
  last_check_ok: boolean | null;
  last_check: Record<string, unknown> | null;
  last_sync_at: Date | null;
  last_sync_status: string | null;
  resources_in: string;
  resources_out: string;
  failures: string;
  created_at: Date;
  updated_at: Date;
}

function toConnection(r: Row): ConnectionRow {
  return {
    id: r.id,
    name: r.name,
    baseUrl: r.base_url,
    authType: r.auth_type,
    tokenUrl: r.token_url,
    clientId: r.client_id,
    scope: r.scope,
    resourceTypes: r.resource_types,
    syncIntervalSeconds: r.sync_interval_seconds,
    status: r.status,
    lastCheckAt: r.last_check_at,
    lastCheckOk: r.last_check_ok,
    lastCheck: r.last_check,
    lastSyncAt: r.last_sync_at,
    lastSyncStatus: r.last_sync_status,
    resourcesIn: Number(r.resources_in),
    resourcesOut: Number(r.resources_out),
    failures: Number(r.failures),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
