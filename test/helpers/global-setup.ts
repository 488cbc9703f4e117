import { randomBytes } from 'node:crypto';
import { createTemplateDatabase } from './test-database';

export default async function globalSetup(): Promise<void> {
  process.env.TEST_TEMPLATE_DB = await createTemplateDatabase();
  // Every queue prefix of this run starts with it (testQueuePrefix): global-teardown drops them all.
  process.env.TEST_RUN_ID = randomBytes(3).toString('hex');
  // MikroORM keeps metadata on globalThis; jest hands this parent's globals to in-band test
  // sandboxes, where the foreign Map breaks MikroORM.init (jest #14326).
  delete (globalThis as Record<string, unknown>)['mikro-orm-metadata'];
}
