import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { API_NODE_FLAGS } from '../src/core/api-node-flags';
import { dropDatabase, prepareDatabase } from '../src/database/database-bootstrap';
import { queuePrefixPatterns, unlinkKeys } from './lib/queue-keys';
import { runImport } from './import';

/**
 * `npm run bench:ingest [-- <fixtures folder>]`: imports the Synthea fixtures into a fresh
 * database through a freshly started API process (everything on: validation, encryption, history,
 * projections, token index, audit triggers, outbox) and prints resources/s and the server's peak
 * memory (VmHWM), and the CPU seconds per resource of the API process and of the bench database's
 * PostgreSQL backends (from /proc: comparable when the machine is shared, unlike the rate).
 * BENCH_COUNT_STATEMENTS=1 also lists the statements the API sent during the import. The database
 * is dropped afterwards.
 */
async function main(): Promise<void> {
  const fixtures = resolve(process.argv[2] ?? join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'synthea'));
  // BENCH_COUNT_STATEMENTS=1: the API counts the statements it sends during the import (a preload).
  const countFile = process.env.BENCH_COUNT_STATEMENTS ? join(tmpdir(), `bench-ingest-statements-${process.pid}.json`) : undefined;
  const preload = countFile ? writeStatementCounter(countFile) : undefined;
  const api = await startBenchApi(preload ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${preload}`.trim() } : {});
  try {
    const load = loadavg()[0];
    const apiCpu0 = processCpuSeconds(api.pid);
    const pgCpu0 = await databaseBackendsCpu(api.databaseUrl);
    if (countFile) process.kill(api.pid, 'SIGWINCH');
    const summary = await runImport(
      {
        url: `${api.base}/fhir`,
        clientId: 'admin',
        clientSecret: 'dev-only-admin-secret',
        concurrency: Number(process.env.BENCH_CONCURRENCY || 2),
        asIs: false,
        paths: [join(fixtures, 'data-pipes'), join(fixtures, 'smart')],
      },
      true,
    );
    const peakKb = peakRssKb(api.pid);
    const apiCpu = processCpuSeconds(api.pid) - apiCpu0;
    const pgCpu1 = await databaseBackendsCpu(api.databaseUrl);
    // Backends that ended during the import are lost to this sum; the pool keeps its connections open.
    let pgCpu = 0;
    for (const [pid, s] of pgCpu1) pgCpu += s - (pgCpu0.get(pid) ?? 0);
    const statements = countFile ? await readStatementCounts(api.pid, countFile) : undefined;
    const rate = summary.resources / summary.seconds;
    process.stdout.write(
      [
        `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}`,
        `files: ${summary.files}; resources: ${summary.resources}; failures: ${summary.failures.length}`,
        `time: ${summary.seconds.toFixed(2)} s`,
        `throughput: ${rate.toFixed(0)} resources/s`,
        `server peak memory (VmHWM): ${(peakKb / 1024).toFixed(0)} MiB`,
        `CPU: API ${apiCpu.toFixed(1)} s (${((apiCpu * 1000) / summary.resources).toFixed(2)} ms/resource), PostgreSQL backends of the bench database ${pgCpu.toFixed(1)} s (${((pgCpu * 1000) / summary.resources).toFixed(2)} ms/resource, ${pgCpu1.size} backends); load average at start ${load.toFixed(2)}, at end ${loadavg()[0].toFixed(2)}`,
        ...(statements ? statements : []),
        '',
      ].join('\n'),
    );
    if (summary.failures.length) {
      for (const f of summary.failures.slice(0, 10)) process.stdout.write(`  failure: ${f.file} ${f.status ?? ''} ${f.outcome?.issue?.[0]?.diagnostics ?? f.message}\n`);
      process.exitCode = 1;
    }
  } finally {
    await api.stop();
    if (preload) rmSync(preload, { force: true });
  }
}

/** An API process started by a benchmark on a database of its own. */
export interface BenchApi {
  /** http://127.0.0.1:<port> (the FHIR base is `${base}/fhir`). */
  base: string;
  databaseUrl: string;
  pid: number;
  /** Stops the process and drops its database. */
  stop(): Promise<void>;
}

/**
 * Creates a fresh database (fhir_bench_<random>), starts the built API (dist/src/main.js) on a
 * random port against it with its own queue prefix, and waits until /health answers. `env` is
 * laid over the defaults (NODE_ENV=development, LOG_LEVEL=error). The child's stdout (its logs)
 * is discarded, its stderr shown.
 */
export async function startBenchApi(env: NodeJS.ProcessEnv = {}): Promise<BenchApi> {
  const dbName = `fhir_bench_${randomBytes(4).toString('hex')}`;
  const databaseUrl = `${process.env.BENCH_DATABASE_BASE_URL ?? 'postgres://postgres@127.0.0.1:5432'}/${dbName}`;
  const port = 18000 + Math.floor(Math.random() * 1000);
  await prepareDatabase(databaseUrl);
  // BENCH_NODE_ARGS: extra node flags for the API process, after API_NODE_FLAGS (a flag given again here wins), e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const queuePrefix = env.QUEUE_PREFIX ?? `bench${randomBytes(3).toString('hex')}`;
  const server = spawn(process.execPath, [...API_NODE_FLAGS, ...nodeArgs, join(__dirname, '..', 'src', 'main.js')], {
    env: {
      ...process.env,
      NODE_ENV: 'development',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'error',
      ...env,
      QUEUE_PREFIX: queuePrefix,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((r) => server.once('exit', r));
        server.kill('SIGTERM');
        await exited;
      }
      await dropDatabase(databaseUrl);
      // The run's queues and the server's own keys, so that benchmark runs leave nothing in Redis.
      await unlinkKeys(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', queuePrefixPatterns(queuePrefix)).catch((e: Error) => process.stderr.write(`could not remove the Redis keys of ${queuePrefix}: ${e.message}\n`));
    })());
  try {
    await waitForHealth(`http://127.0.0.1:${port}/health`, 60000, () => server.exitCode !== null || server.signalCode !== null);
  } catch (e) {
    await stop();
    throw e;
  }
  return { base: `http://127.0.0.1:${port}`, databaseUrl, pid: server.pid as number, stop };
}

export async function waitForHealth(url: string, timeoutMs = 60000, exited: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`the server exited before it became healthy at ${url}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server did not become healthy at ${url}`);
}

/** utime + stime of a process, in seconds (clock ticks of 1/100 s on Linux). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of each PostgreSQL backend connected to the database of `databaseUrl` (by pid). */
async function databaseBackendsCpu(databaseUrl: string): Promise<Map<number, number>> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    const out = new Map<number, number>();
    for (const { pid } of rows) {
      try {
        out.set(pid, processCpuSeconds(pid));
      } catch {
        // ended meanwhile
      }
    }
    return out;
  } finally {
    await client.end();
  }
}

/**
 * A preload counting the statements the API sends through node-postgres (which MikroORM/knex and
 * the raw queries all use) between two SIGWINCHs, written to `file` at the second.
 */
function writeStatementCounter(file: string): string {
  const preload = join(tmpdir(), `bench-ingest-counter-${process.pid}.js`);
  writeFileSync(
    preload,
    `const fs = require('node:fs');
let counting = false;
const counts = new Map();
const pg = require(require.resolve('pg', { paths: [process.cwd()] }));
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (config) {
  if (counting) {
    const text = typeof config === 'string' ? config : (config && config.text) || '';
    const key = text.replace(/\\s+/g, ' ').trim().slice(0, 100);
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  return query.apply(this, arguments);
};
process.on('SIGWINCH', () => {
  if (!counting) { counting = true; return; }
  counting = false;
  fs.writeFileSync(${JSON.stringify(file)}, JSON.stringify([...counts.entries()]));
});
`,
  );
  return preload;
}

async function readStatementCounts(pid: number, file: string): Promise<string[]> {
  process.kill(pid, 'SIGWINCH');
  for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  const entries = (JSON.parse(readFileSync(file, 'utf8')) as Array<[string, number]>).sort((a, b) => b[1] - a[1]);
  rmSync(file, { force: true });
  const total = entries.reduce((a, [, n]) => a + n, 0);
  return [`statements sent by the API: ${total}; most frequent:`, ...entries.slice(0, 25).map(([k, n]) => `  ${String(n).padStart(7)}  ${k}`)];
}

export function peakRssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`bench:ingest failed: ${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
}
