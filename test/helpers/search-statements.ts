import { DatabaseService } from '../../src/database/database.service';
import type { TestApp } from './test-app';

/** A statement the search side sent, with its parameters (`?` placeholders). */
export interface SentStatement {
  sql: string;
  params: unknown[];
}

/**
 * Runs `action` (a request) and returns what it answered and the statements the app's bounded
 * reads (searches, $everything) sent meanwhile, as they were sent: for tests that prepare and
 * EXPLAIN them on a connection of their own.
 */
export async function withSearchStatements<T>(t: TestApp, action: () => Promise<T>): Promise<{ result: T; sent: SentStatement[] }> {
  const db = t.app.get(DatabaseService);
  const sent: SentStatement[] = [];
  const original = db.boundedRead.bind(db);
  const spy = jest.spyOn(db, 'boundedRead').mockImplementation((limit, fn) =>
    original(limit, (tx) =>
      fn({
        query: (sql: string, params: unknown[] = []) => {
          sent.push({ sql, params });
          return tx.query(sql, params);
        },
      } as Parameters<typeof fn>[0]),
    ),
  );
  try {
    return { result: await action(), sent };
  } finally {
    spy.mockRestore();
  }
}
