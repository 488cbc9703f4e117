import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { API_NODE_FLAGS } from '../../src/core/api-node-flags';
import type { TestBuild } from './worker-process';

const ROOT = path.resolve(__dirname, '..', '..');

/** An API process (node <build>/src/main.js) listening on its own port. */
export class ApiProcess {
  private log = '';
  readonly child: ChildProcess;
  /** Resolves once the API listens. */
  readonly started: Promise<void>;

  constructor(
    build: TestBuild,
    env: NodeJS.ProcessEnv,
    readonly port: number,
  ) {
    this.child = spawn(process.execPath, [...API_NODE_FLAGS, path.join(build.outDir, 'src', 'main.js')], { cwd: ROOT, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.started = new Promise((resolve, reject) => {
      const onData = (d: Buffer) => {
        this.log = (this.log + d.toString()).slice(-20000);
        if (this.log.includes('FHIR API listening')) resolve();
      };
      this.child.stdout?.on('data', onData);
      this.child.stderr?.on('data', onData);
      this.child.once('exit', (code, signal) => reject(new Error(`the API process exited (${code ?? signal}) before it listened:\n${this.log}`)));
    });
    this.started.catch(() => undefined);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get output(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }
}
