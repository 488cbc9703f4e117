import type { PoolConfig } from 'pg';

/**
 * The pg Pool settings of the bounded-read pool (DatabaseService.boundedRead): every connection
 * opened read-only with `statement_timeout` as startup settings. node-postgres lets an `options`
 * parameter of the URL replace the `options` given beside it, so one in DATABASE_URL (say
 * `-c search_path=...`) is moved out of the URL and kept, with these settings after it (the last
 * `-c` of a setting wins). Pure.
 *
 * Parallel query and JIT compilation are off unless the URL's `options` turn them on: a search
 * takes a few milliseconds, about what a parallel worker takes to start, and JIT compiles a plan
 * again at every execution. Both start from the planner's estimates, which a table grown since its
 * last ANALYZE inflates. Seen in the search benchmark (autovacuum off): a generic plan of
 * `$everything` expected 10,000 reference rows for 611, gathered a parallel worker (1.5 → 7 ms a
 * statement, the worker's CPU on top) and, once its cost passed jit_above_cost, JIT-compiled every
 * execution: 1.3 → 26 ms.
 */
export function readPoolConfig(databaseUrl: string, timeoutMs: number, max: number): PoolConfig {
  const settings = `-c default_transaction_read_only=on -c statement_timeout=${Math.max(0, Math.floor(timeoutMs))}`;
  let connectionString = databaseUrl;
  let options = `${SHORT_STATEMENTS} ${settings}`;
  if (/[?&]options=/.test(databaseUrl)) {
    const url = new URL(databaseUrl);
    const own = url.searchParams.get('options');
    url.searchParams.delete('options');
    connectionString = url.toString();
    if (own) options = `${SHORT_STATEMENTS} ${own} ${settings}`;
  }
  return { connectionString, options, max, idleTimeoutMillis: 30_000 };
}

/** Before the URL's own options, which may turn them back on. */
const SHORT_STATEMENTS = '-c max_parallel_workers_per_gather=0 -c jit=off';
