/**
 * Tunables of the pull (read from the environment where used, like the bulk export's): how often a
 * worker looks for queued runs besides being woken by NOTIFY, how often it looks for connections
 * due for a scheduled sync, and how a failing run is retried (attempts, first backoff delay).
 */
export interface PullOptions {
  pollMs: number;
  scheduleMs: number;
  attempts: number;
  backoffMs: number;
  /** How deep a chain of references to resources not pulled yet is followed with reads. */
  referenceDepth: number;
}

export function pullOptions(env: NodeJS.ProcessEnv = process.env): PullOptions {
  return {
    pollMs: intVar(env, 'EXCHANGE_SYNC_POLL_MS', 5000, 50, 3_600_000),
    scheduleMs: intVar(env, 'EXCHANGE_SYNC_SCHEDULE_MS', 30_000, 100, 3_600_000),
    attempts: intVar(env, 'EXCHANGE_SYNC_ATTEMPTS', 5, 1, 100),
    backoffMs: intVar(env, 'EXCHANGE_SYNC_BACKOFF_MS', 5000, 10, 3_600_000),
    referenceDepth: 3,
  };
}

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) throw new Error(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  return n;
}
