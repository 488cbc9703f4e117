import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { bootstrapProcess } from '../src/bootstrap';
import { API_NODE_FLAGS } from '../src/core/api-node-flags';

/**
 * `npm start`: prepares the database once (create if missing, migrate), then runs the API and one
 * worker process side by side. If either exits, the other is stopped and the exit code passed on.
 * In production run them apart (`npm run start:api`, `npm run start:worker`) and scale each.
 */
async function main(): Promise<void> {
  const { logger } = await bootstrapProcess('start');
  const children: ChildProcess[] = [];
  let exiting = false;
  const stopAll = (code: number) => {
    if (exiting) return;
    exiting = true;
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    setTimeout(() => process.exit(code), 5000).unref();
    Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))))).then(() => process.exit(code));
  };
  for (const [name, args] of [
    ['api', [...API_NODE_FLAGS, join(__dirname, '..', 'src', 'main.js')]],
    ['worker', [join(__dirname, '..', 'workers', 'main.js')]],
  ] as const) {
    const child = spawn(process.execPath, args, { stdio: 'inherit', env: process.env });
    child.on('exit', (code, signal) => {
      if (!exiting) logger.error({ process: name, code, signal }, `${name} exited; stopping the others`);
      stopAll(code ?? 1);
    });
    children.push(child);
  }
  process.on('SIGINT', () => stopAll(0));
  process.on('SIGTERM', () => stopAll(0));
}

main().catch((e) => {
  // eslint-disable-next-line no-console
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
