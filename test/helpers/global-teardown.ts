import { dropRunQueues, dropTemplateDatabase } from './test-database';

export default async function globalTeardown(): Promise<void> {
  if (process.env.TEST_TEMPLATE_DB) await dropTemplateDatabase(process.env.TEST_TEMPLATE_DB);
  // The Redis keys of every queue prefix the run's tests made (their databases are dropped by each test).
  if (process.env.TEST_RUN_ID) await dropRunQueues(process.env.TEST_RUN_ID);
}
