import { Injectable } from '@nestjs/common';
import { MikroORM, type PostgreSqlConnection } from '@mikro-orm/postgresql';
import type { Knex } from '@mikro-orm/postgresql';

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
  constructor(private readonly orm: MikroORM) {}

  private get knex(): Knex {
    return (this.orm.em.getConnection() as PostgreSqlConnection).getKnex();
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const result = await this.knex.raw(sql, params as Knex.RawBinding[]);
    return result.rows as T[];
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
