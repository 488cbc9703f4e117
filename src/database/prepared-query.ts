import { createHash } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';

/** The slice of node-postgres' Client used here (knex's pooled connections are pg Clients). */
export interface PgClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  connection?: { parsedStatements?: Record<string, string> };
  escapeLiteral(value: string): string;
  /** Set by knex when the connection broke: the pool then discards it instead of lending it again. */
  __knex__disposed?: unknown;
}

/** knex's connection pool, as far as it is used here. */
export interface PgPool {
  acquireConnection(): Promise<PgClient>;
  releaseConnection(c: PgClient): Promise<unknown>;
}

/** The pool behind a knex instance. */
export function poolOf(knex: Knex): PgPool {
  return knex.client as unknown as PgPool;
}

/** Statements kept prepared per connection; the least recently used beyond this are deallocated. */
export const PREPARED_PER_CONNECTION = 200;

const preparedBy = new WeakMap<object, Map<string, true>>();

/** `?` placeholders to `$n`, exactly as knex does for PostgreSQL (`\?` stays a literal `?`). */
export function positional(text: string): string {
  let n = 0;
  return text.replace(/(\\*)(\?)/g, (match, escapes: string) => (escapes.length % 2 ? '?' : `$${++n}`));
}

/** A statement name derived from its text: the same text always gets the same name on every connection. */
export function statementName(text: string): string {
  return `q_${createHash('sha1').update(text).digest('hex')}`;
}

/** Statement texts seen, with their `$n` form and name (hashing the text on every execution cost more than the lookup). */
const statements = new Map<string, { sqlText: string; name: string }>();
const STATEMENTS_MAX = 5_000;

function statementOf(text: string): { sqlText: string; name: string } {
  let s = statements.get(text);
  if (!s) {
    const sqlText = positional(text);
    s = { sqlText, name: statementName(sqlText) };
    if (statements.size >= STATEMENTS_MAX) statements.clear();
    statements.set(text, s);
  }
  return s;
}

/**
 * Runs a statement as a named prepared statement on one of knex's pooled connections: PostgreSQL
 * parses it once per connection and, after a few executions, may keep a generic plan instead of
 * planning every time (plan_cache_mode auto). Only worth it for texts from a bounded set of shapes
 * whose values all travel as parameters. Not for connections through PgBouncer in transaction
 * mode (statements prepared on one server connection are missing on the next).
 */
export async function preparedQuery<T>(knex: Knex, text: string, params: unknown[]): Promise<T[]> {
  const pool = poolOf(knex);
  const conn = await pool.acquireConnection();
  try {
    return await preparedOn<T>(conn, text, params);
  } finally {
    await pool.releaseConnection(conn);
  }
}

/** Runs a statement as a named prepared statement on a connection the caller holds (e.g. in its transaction). */
export async function preparedOn<T>(conn: PgClient, text: string, params: unknown[]): Promise<T[]> {
  const { sqlText, name } = statementOf(text);
  let names = preparedBy.get(conn);
  if (!names) preparedBy.set(conn, (names = new Map()));
  if (names.has(name)) names.delete(name);
  else if (names.size >= PREPARED_PER_CONNECTION) {
    const oldest = names.keys().next().value as string;
    // node-postgres remembers what it prepared on the connection: forget it there too, once the
    // server has (DEALLOCATE fails in an aborted transaction: then nothing is forgotten).
    const parsed = conn.connection?.parsedStatements;
    if (parsed?.[oldest] !== undefined) {
      await conn.query(`DEALLOCATE ${oldest}`);
      delete parsed[oldest];
    }
    names.delete(oldest);
  }
  names.set(name, true);
  const result = await conn.query({ name, text: sqlText, values: params }).catch((e: unknown) => Promise.reject(naming(e, sqlText)));
  return result.rows as T[];
}

/** Runs a statement unprepared (its text parsed and planned each time) on a connection the caller holds. */
export async function plainOn<T>(conn: PgClient, text: string, params: unknown[]): Promise<T[]> {
  const sqlText = positional(text);
  const result = await conn.query(sqlText, params).catch((e: unknown) => Promise.reject(naming(e, sqlText)));
  return result.rows as T[];
}

/** A failed statement's error names the statement, with its placeholders, never the values bound to them (as knex's do). */
function naming(e: unknown, sqlText: string): unknown {
  if (e instanceof Error && !e.message.startsWith(sqlText)) e.message = `${sqlText} - ${e.message}`;
  return e;
}
