import { envInt } from '../../config/env-int';

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
  /**
   * The most pages of one type one run reads (EXCHANGE_SYNC_MAX_PAGES): a remote whose paging never
   * ends stops that type there (the run goes on with the others); the next run continues from the stored next link.
   */
  maxPagesPerType: number;
  /**
   * How far before the latest remote change seen the next look (search or history) starts
   * (EXCHANGE_SYNC_OVERLAP_MS): a remote sets lastUpdated when it writes, not when it commits, so a
   * transaction that commits after a pull read a later change carries an earlier time. What is read
   * again is unchanged (content hash) and writes nothing.
   */
  overlapMs: number;
}

export function pullOptions(env: NodeJS.ProcessEnv = process.env): PullOptions {
  return {
    pollMs: envInt(env, 'EXCHANGE_SYNC_POLL_MS', 5000, 50, 3_600_000),
    scheduleMs: envInt(env, 'EXCHANGE_SYNC_SCHEDULE_MS', 30_000, 100, 3_600_000),
    attempts: envInt(env, 'EXCHANGE_SYNC_ATTEMPTS', 5, 1, 100),
    backoffMs: envInt(env, 'EXCHANGE_SYNC_BACKOFF_MS', 5000, 10, 3_600_000),
    referenceDepth: 3,
    maxPagesPerType: envInt(env, 'EXCHANGE_SYNC_MAX_PAGES', 1000, 1, 1_000_000),
    overlapMs: envInt(env, 'EXCHANGE_SYNC_OVERLAP_MS', 60_000, 0, 86_400_000),
  };
}
