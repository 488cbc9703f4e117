import { rawClient } from './test-database';
import { waitFor } from './wait-for';

/**
 * Runs `start` while another connection holds ACCESS EXCLUSIVE locks on `tables`, and lets go
 * only once `waiters` server transactions are blocked on a lock: requests that would otherwise run
 * one after the other are then in flight at the same moment, so a race the server must handle
 * (with its own locks) really happens. The wait is generous (a CI machine running every suite at
 * once can be slow to get both requests into the database) and, if it still runs out, the error
 * shows what each backend was doing.
 */
export async function whileTablesHeld<T>(url: string, tables: string[], waiters: number, start: () => Promise<T>, timeoutMs = 40_000): Promise<T> {
  const holder = await rawClient(url);
  try {
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE ${tables.join(', ')} IN ACCESS EXCLUSIVE MODE`);
    const running = start();
    running.catch(() => undefined);
    try {
      await waitFor(
        `${waiters} transactions waiting on a lock`,
        async () => {
          const { rows } = await holder.query(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
          );
          return Number(rows[0].n) >= waiters;
        },
        timeoutMs,
      );
    } catch (e) {
      const { rows } = await holder.query(
        `SELECT state, wait_event_type, wait_event, left(query, 120) AS query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      throw new Error(`${(e as Error).message}; backends: ${JSON.stringify(rows)}`);
    }
    await holder.query('COMMIT');
    return await running;
  } finally {
    await holder.end();
  }
}
