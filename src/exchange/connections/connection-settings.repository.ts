import { Injectable } from '@nestjs/common';
import { KeyRing, PGP_OPTIONS } from '../../crypto/key-ring';
import { DatabaseService, type Tx } from '../../database/database.service';
import type { ConnectionAuth } from '../remote-fhir.client';

type Queryable = Pick<Tx, 'query'>;

/** The columns a PATCH may change; auth is replaced whole (its secret encrypted again). */
export interface ConnectionChanges {
  name?: string;
  baseUrl?: string;
  auth?: ConnectionAuth;
  resourceTypes?: string[] | null;
  syncIntervalSeconds?: number | null;
  status?: 'active' | 'off';
}

/**
 * The administrators' SQL over `exchange_connections` beyond what ConnectionRepository offers the
 * pull and push: changing settings, recording checks, counting dead letters. Secrets are
 * encrypted only in PostgreSQL, with the key ring's active key as a bind parameter.
 */
@Injectable()
export class ConnectionSettingsRepository {
  constructor(
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
  ) {}

  /** Whether another connection already has this name. */
  async nameTaken(name: string, exceptId?: string): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM exchange_connections WHERE name = ? AND id IS DISTINCT FROM ?', [name, exceptId ?? null]);
    return rows.length > 0;
  }

  /**
   * The name of another active connection to the same (normalised) base URL, if any. Holds a
   * transaction lock on the base URL first, so two requests for the same URL cannot both pass.
   */
  async activeOnBaseUrl(tx: Queryable, baseUrl: string, exceptId: string): Promise<string | undefined> {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('exchange-base-url'), hashtext(?))", [baseUrl]);
    const [row] = await tx.query<{ name: string }>("SELECT name FROM exchange_connections WHERE base_url = ? AND status = 'active' AND id <> ? LIMIT 1", [baseUrl, exceptId]);
    return row?.name;
  }

  /** Locks the connection's row for the rest of the transaction; false when there is none. */
  async lock(tx: Queryable, id: string, mode: 'UPDATE' | 'SHARE' = 'UPDATE'): Promise<boolean> {
    return (await tx.query(`SELECT 1 FROM exchange_connections WHERE id = ? FOR ${mode === 'UPDATE' ? 'UPDATE' : 'SHARE'}`, [id])).length > 0;
  }

  async update(tx: Queryable, id: string, c: ConnectionChanges): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [];
    const set = (sql: string, ...values: unknown[]) => {
      sets.push(sql);
      params.push(...values);
    };
    if (c.name !== undefined) set('name = ?', c.name);
    if (c.baseUrl !== undefined) set('base_url = ?', c.baseUrl);
    if (c.resourceTypes !== undefined) set('resource_types = ?::text[]', c.resourceTypes);
    if (c.syncIntervalSeconds !== undefined) set('sync_interval_seconds = ?', c.syncIntervalSeconds);
    if (c.status !== undefined) set('status = ?', c.status);
    if (c.auth !== undefined) {
      const a = c.auth;
      const secret = a.type === 'bearer' ? a.token : a.type === 'client_credentials' ? a.clientSecret : null;
      const cc = a.type === 'client_credentials' ? a : undefined;
      set('auth_type = ?', a.type);
      set('token_url = ?', cc?.tokenUrl ?? null);
      set('client_id = ?', cc?.clientId ?? null);
      set('scope = ?', cc?.scope ?? null);
      if (secret === null) {
        set('secret_enc = NULL, key_id = NULL');
      } else {
        set(`secret_enc = pgp_sym_encrypt(?::text, ?, '${PGP_OPTIONS}'), key_id = ?::smallint`, secret, this.keys.dataKey(), this.keys.activeKeyId);
      }
    }
    if (!sets.length) return;
    await tx.query(`UPDATE exchange_connections SET ${sets.join(', ')}, updated_at = now() WHERE id = ?`, [...params, id]);
  }

  /** Records the outcome of a check (what the remote said, or why it failed). */
  async recordCheck(tx: Queryable, id: string, ok: boolean, check: Record<string, unknown>): Promise<Date> {
    const [row] = await tx.query<{ last_check_at: Date }>(
      'UPDATE exchange_connections SET last_check_at = now(), last_check_ok = ?, last_check = ?::jsonb WHERE id = ? RETURNING last_check_at',
      [ok, JSON.stringify(check), id],
    );
    return row?.last_check_at ?? new Date();
  }

  /** How many of the connection's pushes are in the dead-letter list. */
  async deadLetters(id: string): Promise<number> {
    const [row] = await this.db.query<{ n: string }>("SELECT count(*) AS n FROM exchange_push WHERE connection_id = ? AND status = 'dead'", [id]);
    return Number(row?.n ?? 0);
  }
}
