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
  const dbName = `fhir_bench_${randomBytes(4).toString('hex')}`;
  const databaseUrl = `${process.env.BENCH_DATABASE_BASE_URL ?? 'postgres://postgres@127.0.0.1:5432'}/${dbName}`;
  const port = 18000 + Math.floor(Math.random() * 1000);
  await prepareDatabase(databaseUrl);
  const env = {
    ...process.env,
    NODE_ENV: 'development',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    QUEUE_PREFIX: `bench${randomBytes(3).toString('hex')}`,
    LOG_LEVEL: 'error',
  };
  const server = spawn(process.execPath, [join(__dirname, '..', 'src', 'main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitForHealth(`http://127.0.0.1:${port}/health`);
    const summary = await runImport(
      {
        url: `http://127.0.0.1:${port}/fhir`,
        clientId: 'admin',
        clientSecret: 'dev-only-admin-secret',
        concurrency: Number(process.env.BENCH_CONCURRENCY || 2),
        asIs: false,
        paths: [join(fixtures, 'data-pipes'), join(fixtures, 'smart')],
      },
      true,
    );
    const peakKb = peakRssKb(server.pid as number);
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
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await dropDatabase(databaseUrl);
  }
}

async function waitForHealth(url: string, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server did not become healthy at ${url}`);
}

function peakRssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

main().catch((e) => {
  process.stderr.write(`bench:ingest failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
