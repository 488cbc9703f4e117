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
interface PgPool {
  acquireConnection(): Promise<PgClient>;
  releaseConnection(c: PgClient): Promise<unknown>;
}

/** The pool behind a knex instance. */
function poolOf(knex: Knex): PgPool {
  return knex.client as unknown as PgPool;
}

/** Statements kept prepared per connection; the least recently used beyond this are deallocated. */
export const PREPARED_PER_CONNECTION = 200;

const preparedBy = new WeakMap<object, Prepared>();

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
export function preparedQuery<T>(knex: Knex, text: string, params: unknown[]): Promise<T[]> {
  return onPooledConnection(knex, async (conn) => {
    const statement = admit(conn, text);
    await dropEvicted(conn); // outside a transaction: at once
    return run<T>(conn, statement, params);
  });
}

/** Runs `fn` on a connection of knex's pool, given back afterwards. */
export async function onPooledConnection<T>(knex: Knex, fn: (conn: PgClient) => Promise<T>): Promise<T> {
  const pool = poolOf(knex);
  const conn = await pool.acquireConnection();
  try {
    return await fn(conn);
  } finally {
    await pool.releaseConnection(conn);
  }
}

/** What is prepared on a connection: in use (least recently used first), and evicted but not yet deallocated. */
interface Prepared {
  names: Map<string, true>;
  evicted: Set<string>;
}

function preparedOnConnection(conn: PgClient): Prepared {
  let p = preparedBy.get(conn);
  if (!p) preparedBy.set(conn, (p = { names: new Map(), evicted: new Set() }));
  return p;
}

/**
 * Runs a statement as a named prepared statement on a connection the caller holds (e.g. in its
 * transaction). The bookkeeping is synchronous: statements evicted from the connection's set are
 * only marked here and deallocated later by `dropEvicted`, outside any transaction (DEALLOCATE
 * fails in an aborted one, e.g. before a batch entry's ROLLBACK TO SAVEPOINT).
 */
export function preparedOn<T>(conn: PgClient, text: string, params: unknown[]): Promise<T[]> {
  return run<T>(conn, admit(conn, text), params);
}

/** Makes the statement the connection's most recently used one, marking the least recently used beyond the limit as evicted. */
function admit(conn: PgClient, text: string): { sqlText: string; name: string } {
  const statement = statementOf(text);
  const { names, evicted } = preparedOnConnection(conn);
  if (names.has(statement.name)) names.delete(statement.name);
  else evicted.delete(statement.name); // still on the server if it was evicted and not yet dropped
  names.set(statement.name, true);
  while (names.size > PREPARED_PER_CONNECTION) {
    const oldest = names.keys().next().value as string;
    names.delete(oldest);
    evicted.add(oldest);
  }
  return statement;
}

async function run<T>(conn: PgClient, { sqlText, name }: { sqlText: string; name: string }, params: unknown[]): Promise<T[]> {
  const result = await conn.query({ name, text: sqlText, values: params }).catch((e: unknown) => Promise.reject(naming(e, sqlText)));
  return result.rows as T[];
}

/**
 * Deallocates the statements evicted from a connection's set. Call with the connection outside a
 * transaction (before BEGIN, or for a statement of its own). node-postgres remembers what it
 * prepared on the connection: each is forgotten there too once the server has dropped it.
 */
export async function dropEvicted(conn: PgClient): Promise<void> {
  const prepared = preparedBy.get(conn);
  if (!prepared?.evicted.size) return;
  const parsed = conn.connection?.parsedStatements;
  for (const name of [...prepared.evicted]) {
    if (parsed?.[name] !== undefined) {
      await conn.query(`DEALLOCATE ${name}`).catch((e: { code?: string }) => {
        if (e.code !== '26000') throw e; // already gone from the server: forget it all the same
      });
      delete parsed[name];
    }
    prepared.evicted.delete(name);
  }
}

/** Runs a statement unprepared (its text parsed and planned each time) on a connection the caller holds. */
export async function plainOn<T>(conn: PgClient, text: string, params: unknown[]): Promise<T[]> {
  const sqlText = positional(text);
  const result = await conn.query(sqlText, params).catch((e: unknown) => Promise.reject(naming(e, sqlText)));
  return result.rows as T[];
}

/**
 * Refuses `undefined` among the values (top level or in an array), as knex did: node-postgres would
 * send NULL, and a bug that should fail loudly would write NULLs instead.
 */
export function assertNoUndefined(text: string, params: readonly unknown[]): void {
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    if (v === undefined || (Array.isArray(v) && v.includes(undefined))) {
      throw new Error(`Undefined binding(s) detected for parameter ${i + 1} of: ${positional(text)}`);
    }
  }
}

/** A failed statement's error names the statement, with its placeholders, never the values bound to them (as knex's do). */
function naming(e: unknown, sqlText: string): unknown {
  if (e instanceof Error && !e.message.startsWith(sqlText)) e.message = `${sqlText} - ${e.message}`;
  return e;
}
