import { Inject, Injectable, Optional } from '@nestjs/common';
import { MikroORM, type PostgreSqlConnection } from '@mikro-orm/postgresql';
import type { Knex } from '@mikro-orm/postgresql';
import { preparedQuery } from './prepared-query';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';

/** What a transaction is done for: recorded by the audit triggers and the audit log. */
export interface TxContext {
  /** The authenticated client (or system component) on whose behalf rows change. */
  actor: string;
  requestId?: string;
}

/** A running transaction. SQL uses `?` placeholders; values travel only as bind parameters. */
export interface Tx {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Whom the transaction's changes are attributed to (TxContext.actor). */
  readonly actor?: string;
}

/**
 * Raw SQL over MikroORM's connection pool, for the write path and the FHIR store where set-based
 * statements (and pgcrypto expressions) matter more than a unit of work.
 */
@Injectable()
export class DatabaseService {
  /** Prepared statements live on one server connection: not through PgBouncer in transaction mode (DATABASE_URL then differs from DATABASE_DIRECT_URL). */
  private readonly prepares: boolean;

  constructor(
    private readonly orm: MikroORM,
    @Optional() @Inject(APP_CONFIG) config?: AppConfig,
  ) {
    this.prepares = !config || config.databaseDirectUrl === config.databaseUrl;
  }

  private get knex(): Knex {
    return (this.orm.em.getConnection() as PostgreSqlConnection).getKnex();
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const result = await this.knex.raw(sql, params as Knex.RawBinding[]);
    return result.rows as T[];
  }

  /** As `query`, as a named prepared statement (see prepared-query.ts): for stable statement shapes, outside PgBouncer. */
  async queryPrepared<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.prepares ? preparedQuery<T>(this.knex, sql, params) : this.query<T>(sql, params);
  }

  /** Runs `fn` in one transaction whose changes the audit triggers attribute to `ctx.actor`. */
  async transaction<T>(ctx: TxContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.knex.transaction(async (trx) => {
      const tx: Tx = {
        actor: ctx.actor,
        query: async <R>(sql: string, params: unknown[] = []) => (await trx.raw(sql, params as Knex.RawBinding[])).rows as R[],
      };
      await tx.query("SELECT set_config('app.actor', ?, true), set_config('app.request_id', ?, true)", [ctx.actor, ctx.requestId ?? '']);
      return fn(tx);
    });
  }
}
