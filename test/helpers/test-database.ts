import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { dropDatabase, ensureDatabase, migrate } from '../../src/database/database-bootstrap';
import { unlinkKeys } from '../../scripts/lib/queue-keys';

const BASE_URL = process.env.TEST_DATABASE_BASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

function urlFor(name: string): string {
  const u = new URL(BASE_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * The migrated template that every test database is cloned from. Made once per test run by
 * test/helpers/global-setup.ts (its name travels in TEST_TEMPLATE_DB), dropped by global-teardown.
 */
export async function createTemplateDatabase(): Promise<string> {
  const name = `fhir_test_tpl_${randomBytes(4).toString('hex')}`;
  const url = urlFor(name);
  await ensureDatabase(url);
  await migrate(url);
  // A template must have no open connections when it is cloned.
  return name;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database of its own for one test file; drop it in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = process.env.TEST_TEMPLATE_DB;
  const name = `fhir_test_${randomBytes(6).toString('hex')}`;
  const url = urlFor(name);
  if (template) {
    await ensureDatabase(url, template);
  } else {
    await ensureDatabase(url);
    await migrate(url);
  }
  return { url, name, drop: () => dropDatabase(url) };
}

export async function dropTemplateDatabase(name: string): Promise<void> {
  await dropDatabase(urlFor(name));
}

/** A plain pg client for looking at raw rows (encrypted columns, audit_log) the way an attacker with a dump would. */
export async function rawClient(url: string): Promise<Client> {
  const c = new Client({ connectionString: url });
  await c.connect();
  return c;
}

/** A queue prefix of its own for one test file. */
export function testQueuePrefix(): string {
  // The run's id first (global-setup sets it), so that global-teardown drops every prefix of this run, and only those.
  return `fhirtest${process.env.TEST_RUN_ID ?? ''}${randomBytes(4).toString('hex')}`;
}

/**
 * Removes the Redis keys of every queue prefix a test run made: BullMQ's (hash-tagged, `{prefix}:...`)
 * and the server's own (`{prefix}:metrics`...). Other runs' keys (another suite on the same Redis)
 * have another run id and stay.
 */
export async function dropRunQueues(runId: string, redisUrl = 'redis://127.0.0.1:6379'): Promise<number> {
  return unlinkKeys(redisUrl, [`{fhirtest${runId}*`, `fhirtest${runId}*`]);
}
