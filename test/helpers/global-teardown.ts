import { dropTemplateDatabase } from './test-database';

export default async function globalTeardown(): Promise<void> {
  if (process.env.TEST_TEMPLATE_DB) await dropTemplateDatabase(process.env.TEST_TEMPLATE_DB);
}
