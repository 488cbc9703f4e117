import type { Client } from 'pg';
import { CITUS_PLAN, distributionStatements } from './citus-plan';
import { loadSchemaCatalog, readinessProblems } from './citus-readiness';

/**
 * The Citus step, run after the migrations (under their lock): when the database has the `citus`
 * extension and at least one worker node, the tables are distributed as CITUS_PLAN says, once
 * (tables Citus already knows are skipped, so it runs again harmlessly after later migrations add
 * tables). Without the extension it does nothing: the same migrations serve plain PostgreSQL.
 * Returns what it did.
 */
export async function distributeOnCitus(client: Pick<Client, 'query'>): Promise<string[]> {
  const { rows: ext } = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`);
  if (!ext.length) return [];
  const problems = readinessProblems(await loadSchemaCatalog(client), CITUS_PLAN);
  if (problems.length) throw new Error(`The schema cannot be distributed with Citus:\n- ${problems.join('\n- ')}`);
  const { rows: workers } = await client.query(`SELECT count(*)::int AS n FROM citus_get_active_worker_nodes()`);
  if (!workers[0].n) return ['citus: no worker nodes yet (add them with citus_add_node, then restart to distribute)'];
  const { rows: known } = await client.query<{ t: string }>(`SELECT logicalrelid::regclass::text AS t FROM pg_dist_partition`);
  const { rows: db } = await client.query<{ name: string }>('SELECT current_database() AS name');
  const statements = distributionStatements(CITUS_PLAN, db[0].name, new Set(known.map((k) => k.t.replace(/^public\./, '').replace(/"/g, ''))));
  const done: string[] = [];
  for (const sql of statements) {
    await client.query(sql);
    if (sql.startsWith('SELECT')) done.push(`citus: ${sql.slice(7)}`);
  }
  return done;
}
