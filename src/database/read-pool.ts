import type { PoolConfig } from 'pg';

/**
 * The pg Pool settings of the bounded-read pool (DatabaseService.boundedRead): every connection
 * opened read-only with `statement_timeout` as startup settings. node-postgres lets an `options`
 * parameter of the URL replace the `options` given beside it, so one in DATABASE_URL (say
 * `-c search_path=...`) is moved out of the URL and kept, with these settings after it (the last
 * `-c` of a setting wins). Pure.
 */
export function readPoolConfig(databaseUrl: string, timeoutMs: number, max: number): PoolConfig {
  const settings = `-c default_transaction_read_only=on -c statement_timeout=${Math.max(0, Math.floor(timeoutMs))}`;
  let connectionString = databaseUrl;
  let options = settings;
  if (/[?&]options=/.test(databaseUrl)) {
    const url = new URL(databaseUrl);
    const own = url.searchParams.get('options');
    url.searchParams.delete('options');
    connectionString = url.toString();
    if (own) options = `${own} ${settings}`;
  }
  return { connectionString, options, max, idleTimeoutMillis: 30_000 };
}
