import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { Redis } from 'ioredis';
import { freePort } from '../../scripts/lib/free-port';

export { freePort };

/**
 * A redis-server of a test's own, so that it can be killed without disturbing the suites that
 * share the Redis on 6379. It persists as the deployment's Redis does (docker-compose.yml runs it
 * with appendonly yes; here fsync always, since the test kills it with SIGKILL), into a temporary
 * folder of its own, so a restart on the same port comes back with the queues it had.
 */
export class OwnRedis {
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'fhir-test-redis-'));
  private log = '';

  private constructor(readonly port: number) {}

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts (or restarts) the server on its port and resolves once it answers PING. */
  async start(timeoutMs = 15000): Promise<void> {
    if (this.running) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-4000)));
    child.stderr?.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-4000)));
    this.child = child;
    const deadline = Date.now() + timeoutMs;
    while (!(await pong(this.port))) {
      if (!this.running) throw new Error(`redis-server on port ${this.port} exited (${child.exitCode ?? child.signalCode}):\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer PING within ${timeoutMs} ms:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills the server the hard way (a crash, not a shutdown) and resolves once it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills the server and removes its data: for afterAll, always. */
  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether a Redis answers PING on the port with PONG (not LOADING or a refused connection). */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
  });
}

/**
 * Ends connections made for a test: disconnect() (not quit(), which waits in the offline queue of
 * a connection whose Redis is gone), then a bounded wait for each to end, so that no reconnection
 * timer outlives the file.
 */
export async function disconnectAll(connections: Redis[]): Promise<void> {
  await Promise.all(
    connections.map(async (r) => {
      if (r.status === 'end') return;
      const ended = new Promise((resolve) => r.once('end', resolve));
      r.disconnect();
      await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    }),
  );
}
