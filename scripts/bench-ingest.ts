import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { dropDatabase, prepareDatabase } from '../src/database/database-bootstrap';
import { runImport } from './import';

/**
 * `npm run bench:ingest [-- <fixtures folder>]`: imports the Synthea fixtures into a fresh
 * database through a freshly started API process (everything on: validation, encryption, history,
 * projections, token index, audit triggers, outbox) and prints resources/s and the server's peak
 * memory (VmHWM). The database is dropped afterwards.
 */
async function main(): Promise<void> {
  const fixtures = resolve(process.argv[2] ?? join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'synthea'));
  const api = await startBenchApi();
  try {
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
    const rate = summary.resources / summary.seconds;
    process.stdout.write(
      [
        `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}`,
        `files: ${summary.files}; resources: ${summary.resources}; failures: ${summary.failures.length}`,
        `time: ${summary.seconds.toFixed(2)} s`,
        `throughput: ${rate.toFixed(0)} resources/s`,
        `server peak memory (VmHWM): ${(peakKb / 1024).toFixed(0)} MiB`,
        '',
      ].join('\n'),
    );
    if (summary.failures.length) {
      for (const f of summary.failures.slice(0, 10)) process.stdout.write(`  failure: ${f.file} ${f.status ?? ''} ${f.outcome?.issue?.[0]?.diagnostics ?? f.message}\n`);
      process.exitCode = 1;
    }
  } finally {
    await api.stop();
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
  // BENCH_NODE_ARGS: extra node flags for the API process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const server = spawn(process.execPath, [...nodeArgs, join(__dirname, '..', 'src', 'main.js')], {
    env: {
      ...process.env,
      NODE_ENV: 'development',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      QUEUE_PREFIX: `bench${randomBytes(3).toString('hex')}`,
      LOG_LEVEL: 'error',
      ...env,
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
