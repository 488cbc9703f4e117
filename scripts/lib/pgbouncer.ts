import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from './free-port';

/** Where Debian's pgbouncer package puts the binary, or the one on PATH. */
export function pgbouncerBinary(): string | undefined {
  for (const p of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer']) if (existsSync(p)) return p;
  try {
    return execFileSync('which', ['pgbouncer'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A PgBouncer of its own in transaction pooling mode (the mode docs/SCALING.md recommends), in
 * front of a PostgreSQL with trust authentication; for tests and benchmarks. PgBouncer refuses to
 * run as root, so as root it runs as the `postgres` user.
 */
export class OwnPgBouncer {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static available(): boolean {
    return !!pgbouncerBinary();
  }

  static async start(backend = { host: '127.0.0.1', port: 5432 }, poolSize = 8): Promise<OwnPgBouncer> {
    const binary = pgbouncerBinary();
    if (!binary) throw new Error('pgbouncer is not installed');
    const dir = mkdtempSync(path.join(tmpdir(), 'fhir-pgbouncer-'));
    const port = await freePort();
    writeFileSync(path.join(dir, 'userlist.txt'), '"postgres" ""\n');
    writeFileSync(
      path.join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `* = host=${backend.host} port=${backend.port}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        `unix_socket_dir = ${dir}`,
        'auth_type = trust',
        `auth_file = ${path.join(dir, 'userlist.txt')}`,
        'pool_mode = transaction',
        `default_pool_size = ${poolSize}`,
        'max_client_conn = 500',
        'ignore_startup_parameters = extra_float_digits,options',
        '',
      ].join('\n'),
    );
    chmodSync(dir, 0o777);
    const asRoot = process.getuid?.() === 0;
    const [cmd, args] = asRoot ? ['runuser', ['-u', 'postgres', '--', binary, path.join(dir, 'pgbouncer.ini')]] : [binary, [path.join(dir, 'pgbouncer.ini')]];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
    child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
    const bouncer = new OwnPgBouncer(port, child, dir);
    const deadline = Date.now() + 15000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited: ${log}`);
      const c = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      try {
        await c.connect();
        await c.query('SELECT 1');
        return bouncer;
      } catch (e) {
        if (Date.now() > deadline) {
          await bouncer.stop();
          throw new Error(`pgbouncer did not answer on port ${port}: ${String(e)}\n${log}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        await c.end().catch(() => undefined);
      }
    }
  }

  /** The URL of a database behind this pooler. */
  urlFor(databaseUrl: string): string {
    const u = new URL(databaseUrl);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
