import { Inject, Injectable, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { MikroORM, type PostgreSqlConnection } from '@mikro-orm/postgresql';
import { Pool } from 'pg';
import { readPoolConfig } from './read-pool';
import type { Knex } from '@mikro-orm/postgresql';
import { assertNoUndefined, dropEvicted, onPooledConnection, plainOn, preparedOn, preparedQuery, type PgClient } from './prepared-query';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';

/** What a transaction is done for: recorded by the audit triggers and the audit log. */
export interface TxContext {
  /** The authenticated client (or system component) on whose behalf rows change. */
  actor: string;
  requestId?: string;
  /** The FHIR base URL the client addressed: absolute references to it are stored relative (see withLocalReferences). */
  base?: string;
}

/** A running transaction. SQL uses `?` placeholders; values travel only as bind parameters. */
export interface Tx {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Whom the transaction's changes are attributed to (TxContext.actor). */
  readonly actor?: string;
  /** TxContext.base. */
  readonly base?: string;
}

/**
 * Raw SQL over MikroORM's connection pool, for the write path and the FHIR store where set-based
 * statements (and pgcrypto expressions) matter more than a unit of work.
 */
@Injectable()
export class DatabaseService implements OnApplicationShutdown {
  /** Prepared statements live on one server connection: not through PgBouncer in transaction mode (DATABASE_URL then differs from DATABASE_DIRECT_URL). */
  private readonly prepares: boolean;
  /** The bounded-read pools, by statement timeout (see boundedRead); opened on first use. */
  private readonly readPools = new Map<number, Pool>();

  constructor(
    private readonly orm: MikroORM,
    @Optional() @Inject(APP_CONFIG) private readonly config?: AppConfig,
  ) {
    this.prepares = !config || config.databaseDirectUrl === config.databaseUrl;
  }

  private get knex(): Knex {
    return (this.orm.em.getConnection() as PostgreSqlConnection).getKnex();
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    assertNoUndefined(sql, params);
    return onPooledConnection(this.knex, (conn) => plainOn<T>(conn, sql, params));
  }

  /** As `query`, as a named prepared statement (see prepared-query.ts): for stable statement shapes, outside PgBouncer. */
  async queryPrepared<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.prepares ? preparedQuery<T>(this.knex, sql, params) : this.query<T>(sql, params);
  }

  /**
   * Runs `fn`'s reads (a search's page, total and includes) on one connection, each statement
   * read-only and limited to `timeoutMs` (0: no limit). A statement over it fails with SQLSTATE
   * 57014 and the connection is free again at once.
   *
   * On a direct connection the reads go to a pool of their own whose connections are opened with
   * `statement_timeout` and `default_transaction_read_only` as session settings, so each statement
   * is one round trip. Wrapping every search in BEGIN READ ONLY; SET LOCAL ...; COMMIT on the shared
   * pool took two more round trips per search (measured: a fifth of a search's API time on two
   * cores went to those socket writes and the context switches they cause). A setting left on
   * shared connections would instead reach writes, migrations and maintenance. Through PgBouncer in
   * transaction mode (which drops startup settings) each call is a read-only transaction with
   * SET LOCAL instead. The statements of one call do not share a snapshot: each is consistent on its own.
   */
  async boundedRead<T>(timeoutMs: number, fn: (tx: Pick<Tx, 'query'>) => Promise<T>): Promise<T> {
    const limit = Math.max(0, Math.floor(timeoutMs));
    if (!this.prepares || !this.config) {
      // One round trip (a simple query; the timeout is an integer written into the text).
      return this.onTransaction(`BEGIN READ ONLY${limit > 0 ? `; SET LOCAL statement_timeout = ${limit}` : ''}`, (query) => fn({ query }));
    }
    const conn = await this.readPool(limit).connect();
    const client = conn as unknown as PgClient;
    let ended = false;
    try {
      await dropEvicted(client);
      return await fn({
        query: <R>(sql: string, params: unknown[] = []) => {
          // The connection goes back to the pool when `fn` ends: a late statement would run on someone else's.
          if (ended) return Promise.reject(new Error(`Bounded read already ended: ${sql}`));
          assertNoUndefined(sql, params);
          return preparedOn<R>(client, sql, params);
        },
      });
    } finally {
      ended = true;
      // A failed statement (a timeout included) leaves the connection usable; the pool discards one whose socket broke.
      conn.release();
    }
  }

  private readPool(timeoutMs: number): Pool {
    let pool = this.readPools.get(timeoutMs);
    if (!pool) {
      pool = new Pool(readPoolConfig(this.config!.databaseUrl, timeoutMs, this.config!.searchPoolMax));
      // An idle connection the server closed: the pool drops it; nothing is waiting on it.
      pool.on('error', () => undefined);
      this.readPools.set(timeoutMs, pool);
    }
    return pool;
  }

  async onApplicationShutdown(): Promise<void> {
    const pools = [...this.readPools.values()];
    this.readPools.clear();
    await Promise.all(pools.map((p) => p.end()));
  }

  /**
   * Runs `fn` in one transaction whose changes the audit triggers attribute to `ctx.actor`, on one
   * pooled connection held throughout. Its statements are prepared (outside PgBouncer): the write
   * path's statements have a few fixed shapes whose planning otherwise cost as much as running them.
   */
  async transaction<T>(ctx: TxContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.onTransaction(
      (conn) => `BEGIN; SELECT set_config('app.actor', ${conn.escapeLiteral(ctx.actor)}, true), set_config('app.request_id', ${conn.escapeLiteral(ctx.requestId ?? '')}, true)`,
      (query) => fn({ actor: ctx.actor, base: ctx.base, query }),
    );
  }

  /**
   * One transaction on one pooled connection held throughout, opened by `begin` (BEGIN and its
   * settings in one round trip: a simple query), committed when `fn` resolves, rolled back when it throws.
   */
  private onTransaction<T>(begin: string | ((conn: PgClient) => string), fn: (query: Tx['query']) => Promise<T>): Promise<T> {
    return onPooledConnection(this.knex, async (conn) => {
      // The connection goes back to the pool when the transaction ends: a late statement would run in someone else's.
      let ended = false;
      const query: Tx['query'] = async <R>(sql: string, params: unknown[] = []) => {
        if (ended) throw new Error(`Transaction already ended: ${sql}`);
        assertNoUndefined(sql, params);
        // Statements without values (SAVEPOINT, ROLLBACK TO, SET CONSTRAINTS) gain nothing from being prepared.
        return this.prepares && params.length ? preparedOn<R>(conn, sql, params) : plainOn<R>(conn, sql, params);
      };
      await dropEvicted(conn);
      let result: T;
      try {
        await conn.query(typeof begin === 'string' ? begin : begin(conn));
        result = await fn(query).finally(() => (ended = true));
      } catch (e) {
        await rollback(conn);
        throw e;
      }
      await conn.query('COMMIT');
      return result;
    });
  }
}

/** Ends a failed transaction; a connection that cannot even roll back is left for the pool to discard. */
async function rollback(conn: PgClient): Promise<void> {
  try {
    await conn.query('ROLLBACK');
  } catch (e) {
    conn.__knex__disposed ??= e;
  }
}
