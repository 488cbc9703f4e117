import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_ENCRYPTION_KEY, type TestApp } from './test-app';
import { testQueuePrefix } from './test-database';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * A build of the project for running its processes for real (not in jest's process), made with
 * the TypeScript compiler and tsconfig.build.json into the gitignored dist-test/ folder. It stays
 * inside the repository so that what the code finds by walking up to package.json (models/) and
 * node_modules resolve as they do from dist/.
 */
export interface TestBuild {
  outDir: string;
  remove(): void;
}

export async function buildForProcesses(): Promise<TestBuild> {
  const outDir = path.join(ROOT, 'dist-test', `build-${randomBytes(4).toString('hex')}`);
  const tsc = require.resolve('typescript/bin/tsc');
  const output = await new Promise<string>((resolve) => {
    // Type errors elsewhere in a tree that others are editing still emit: only the output counts.
    // --noCheck: emit only (isolatedModules makes that safe); npm test type-checks before jest runs.
    execFile(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--noCheck', '--outDir', outDir], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (_err, stdout, stderr) =>
      resolve(`${stdout}${stderr}`),
    );
  });
  if (!existsSync(path.join(outDir, 'workers', 'main.js'))) {
    rmSync(outDir, { recursive: true, force: true });
    throw new Error(`the build for the worker process failed:\n${output.slice(0, 4000)}`);
  }
  return { outDir, remove: () => rmSync(outDir, { recursive: true, force: true }) };
}

/** The environment a process needs to work on a TestApp's database and queues, with the same keys. */
export function processEnv(t: TestApp, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: t.config.databaseUrl,
    REDIS_URL: t.config.redisUrl,
    QUEUE_PREFIX: t.config.queuePrefix,
    ENCRYPTION_KEY: t.config.encryptionKey,
    AUTH_CLIENT_ID: t.config.authClientId,
    AUTH_CLIENT_SECRET: t.config.authClientSecret,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/**
 * The environment of API and worker processes started on a database of their own (not a TestApp's):
 * the test keys and client, a fresh queue prefix, info logs. `extra` is laid over it.
 */
export function ownProcessEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: testQueuePrefix(),
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    AUTH_CLIENT_ID: TEST_CLIENT_ID,
    AUTH_CLIENT_SECRET: TEST_CLIENT_SECRET,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** A worker process (node <build>/workers/main.js). */
export class WorkerProcess {
  private log = '';
  readonly child: ChildProcess;
  /** Resolves once the worker has logged that it started (its processors and relay are running). */
  readonly started: Promise<void>;

  constructor(build: TestBuild, env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [path.join(build.outDir, 'workers', 'main.js')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.started = new Promise((resolve, reject) => {
      const onData = (d: Buffer) => {
        this.log = (this.log + d.toString()).slice(-20000);
        if (this.log.includes('"msg":"worker started"')) resolve();
      };
      this.child.stdout?.on('data', onData);
      this.child.stderr?.on('data', onData);
      this.child.once('exit', (code, signal) => reject(new Error(`the worker process exited (${code ?? signal}) before it started:\n${this.log}`)));
    });
    this.started.catch(() => undefined); // observed by whoever awaits it
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The tail of what the process printed, for failure messages. */
  get output(): string {
    return this.log;
  }

  /** Sends the signal and resolves with how the process ended. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return { code: this.child.exitCode, signal: this.child.signalCode };
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => this.child.once('exit', (code, sig) => r({ code, signal: sig })));
    this.child.kill(signal);
    return exited;
  }
}
