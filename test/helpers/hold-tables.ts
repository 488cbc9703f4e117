import { rawClient } from './test-database';

/**
 * Runs `start` while another connection holds ACCESS EXCLUSIVE locks on `tables`, and lets go
 * once `waiters` server transactions are blocked on a lock: requests that would otherwise run one
 * after the other are then in flight at the same moment, so a race the server must handle (with
 * its own locks) really happens. If they are not all seen waiting within `timeoutMs` (a machine
 * running every suite at once can be slow to get them there), it lets go anyway and says so: the
 * callers' assertions hold whatever the interleaving, the hold only makes the race likely.
 */
export async function whileTablesHeld<T>(url: string, tables: string[], waiters: number, start: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const holder = await rawClient(url);
  try {
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE ${tables.join(', ')} IN ACCESS EXCLUSIVE MODE`);
    const running = start();
    running.catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await holder.query(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      if (Number(rows[0].n) >= waiters) break;
      if (Date.now() > deadline) {
        const { rows: backends } = await holder.query(
          `SELECT state, wait_event_type, wait_event, left(query, 120) AS query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        console.warn(`whileTablesHeld: ${waiters} lock waiters not seen within ${timeoutMs} ms; letting go anyway. Backends: ${JSON.stringify(backends)}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await holder.query('COMMIT');
    return await running;
  } finally {
    await holder.end();
  }
}
