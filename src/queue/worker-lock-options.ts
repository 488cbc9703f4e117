/**
 * How soon work resumes after a failure. BullMQ keeps a lock on each active job, renewed every
 * lockDuration/2 while its worker lives; a job whose lock has expired (its worker died) is found by
 * the stalled-job check (every stalledInterval) and put back to wait. After a Redis error a worker
 * waits runRetryDelay before it fetches or acknowledges jobs again. The defaults are BullMQ's
 * (30 s, 30 s, 15 s); tests that kill a worker or Redis use shorter ones. Read when the
 * processors' decorators are evaluated, hence from the environment directly.
 */
export interface WorkerLockOptions {
  lockDuration: number;
  stalledInterval: number;
  runRetryDelay: number;
}

export function workerLockOptions(env: NodeJS.ProcessEnv = process.env): WorkerLockOptions {
  return {
    lockDuration: msVar(env, 'WORKER_LOCK_MS', 30_000),
    stalledInterval: msVar(env, 'WORKER_STALLED_INTERVAL_MS', 30_000),
    runRetryDelay: msVar(env, 'WORKER_RETRY_MS', 15_000),
  };
}

function msVar(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  // Below a second a busy worker could lose the lock of a job it is still running.
  if (!/^\d+$/.test(raw.trim()) || n < 1000 || n > 3_600_000) throw new Error(`${name} must be an integer number of milliseconds between 1000 and 3600000, got "${raw}"`);
  return n;
}
