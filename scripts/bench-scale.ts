import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { API_NODE_FLAGS } from '../src/core/api-node-flags';
import { dropDatabase, prepareDatabase } from '../src/database/database-bootstrap';
import { waitForHealth } from './bench-ingest';
import { freePort } from './lib/free-port';
import { OwnPgBouncer } from './lib/pgbouncer';

/**
 * `npm run bench:scale`: what each scaling step costs or brings on this machine. On one fresh
 * database it runs the built API as 1 or 2 processes, each connecting to PostgreSQL directly or
 * through PgBouncer in transaction mode, and drives each set-up with autocannon (reads by id,
 * then creates), printing requests/s and latency percentiles side by side. BENCH_DURATION
 * (seconds per run, default 10) and BENCH_CONNECTIONS (default 16) tune it.
 */
interface AutocannonInstance extends PromiseLike<{ non2xx: number; errors: number }> {
  on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
}
type Autocannon = (opts: { url: string; connections: number; duration: number; headers: Record<string, string>; requests: Array<{ method: string; path: string; body?: string }> }) => AutocannonInstance;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon;

const CLIENT_ID = 'bench-admin';
const CLIENT_SECRET = 'bench-admin-secret-0123456789';
const FHIR = 'application/fhir+json';

interface Setup {
  processes: number;
  pgbouncer: boolean;
}

async function main(): Promise<void> {
  const duration = Number(process.env.BENCH_DURATION || 10);
  const connections = Number(process.env.BENCH_CONNECTIONS || 16);
  const dbName = `fhir_bench_${randomBytes(4).toString('hex')}`;
  const databaseUrl = `${process.env.BENCH_DATABASE_BASE_URL ?? 'postgres://postgres@127.0.0.1:5432'}/${dbName}`;
  const out = (l = '') => process.stdout.write(`${l}\n`);
  out(`bench:scale — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
  out(`autocannon ${connections} connections spread over the API processes, ${duration} s per run; PostgreSQL, the APIs and the load on the same machine`);
  await prepareDatabase(databaseUrl);
  const bouncer = OwnPgBouncer.available() ? await OwnPgBouncer.start(undefined, 10) : undefined;
  if (!bouncer) out('pgbouncer is not installed: only direct connections are measured');
  const env = {
    ...process.env,
    NODE_ENV: 'development',
    DATABASE_DIRECT_URL: databaseUrl,
    QUEUE_PREFIX: `bench${randomBytes(3).toString('hex')}`,
    AUTH_CLIENT_ID: CLIENT_ID,
    AUTH_CLIENT_SECRET: CLIENT_SECRET,
    LOG_LEVEL: 'error',
    PG_POOL_MAX: process.env.PG_POOL_MAX || '10',
  };
  const rows: Array<Setup & { scenario: string; rps: number; p50: number; p95: number; p99: number; failed: number }> = [];
  try {
    let ids: string[] = [];
    const setups: Setup[] = [
      { processes: 1, pgbouncer: false },
      { processes: 2, pgbouncer: false },
      ...(bouncer ? [{ processes: 1, pgbouncer: true }, { processes: 2, pgbouncer: true }] : []),
    ];
    for (const setup of setups) {
      const url = setup.pgbouncer && bouncer ? bouncer.urlFor(databaseUrl) : databaseUrl;
      const apis = await Promise.all(Array.from({ length: setup.processes }, () => startApi({ ...env, DATABASE_URL: url })));
      try {
        const token = await fetchToken(apis[0].base);
        const headers = { authorization: `Bearer ${token}`, accept: FHIR, 'content-type': FHIR };
        if (!ids.length) ids = await seedPatients(apis[0].base, headers, 200);
        const scenarios = [
          { scenario: 'read Patient by id', requests: ids.map((id) => ({ method: 'GET', path: `/fhir/Patient/${id}` })) },
          {
            scenario: 'create Observation',
            requests: ids.slice(0, 50).map((id, i) => ({
              method: 'POST',
              path: '/fhir/Observation',
              body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: `Patient/${id}` }, valueQuantity: { value: 60 + i, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } }),
            })),
          },
        ];
        for (const s of scenarios) {
          const latencies: number[] = [];
          let failed = 0;
          const started = process.hrtime.bigint();
          await Promise.all(
            apis.map((api, i) => {
              const share = Math.floor(connections / apis.length) + (i < connections % apis.length ? 1 : 0);
              const run = autocannon({ url: api.base, connections: share, duration, headers, requests: s.requests });
              run.on('response', (_c, status, _b, ms) => (status >= 200 && status < 300 ? latencies.push(ms) : failed++));
              return run;
            }),
          );
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          latencies.sort((a, b) => a - b);
          const row = { ...setup, scenario: s.scenario, rps: latencies.length / seconds, p50: pct(latencies, 50), p95: pct(latencies, 95), p99: pct(latencies, 99), failed };
          rows.push(row);
          process.stderr.write(`  ${label(setup)} ${s.scenario}: ${row.rps.toFixed(0)} req/s, p95 ${row.p95.toFixed(1)} ms\n`);
        }
      } finally {
        await Promise.all(apis.map((a) => a.stop()));
      }
    }
  } finally {
    await bouncer?.stop();
    await dropDatabase(databaseUrl);
  }
  out();
  out('| set-up | scenario | req/s | p50 ms | p95 ms | p99 ms | failed |');
  out('|---|---|---:|---:|---:|---:|---:|');
  for (const r of rows) out(`| ${label(r)} | ${r.scenario} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.failed} |`);
}

function label(s: Setup): string {
  return `${s.processes} API process${s.processes > 1 ? 'es' : ''}, ${s.pgbouncer ? 'PgBouncer (transaction)' : 'direct'}`;
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

async function startApi(env: NodeJS.ProcessEnv): Promise<{ base: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...API_NODE_FLAGS, join(__dirname, '..', 'src', 'main.js')], { env: { ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitForHealth(`http://127.0.0.1:${port}/health`, 60000, () => child.exitCode !== null);
  } catch (e) {
    await stop();
    throw e;
  }
  return { base: `http://127.0.0.1:${port}`, stop };
}

async function fetchToken(base: string): Promise<string> {
  const res = await fetch(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
  });
  if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function seedPatients(base: string, headers: Record<string, string>, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${base}/fhir/Patient`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `Scale${i}`, given: ['Bench'] }], gender: i % 2 ? 'male' : 'female', birthDate: '1980-01-01' }),
    });
    if (res.status !== 201) throw new Error(`seeding: ${res.status} ${await res.text()}`);
    ids.push(((await res.json()) as { id: string }).id);
  }
  return ids;
}

main().catch((e) => {
  process.stderr.write(`bench:scale failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
