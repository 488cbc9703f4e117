import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { bootstrapProcess } from '../src/bootstrap';
import { WorkerModule } from './worker.module';

/** The worker process: drains the outbox into BullMQ and runs the job processors. Scales apart from the API. */
async function main(): Promise<void> {
  const { config, logger, nestLogger } = await bootstrapProcess('worker');
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config, logger), { logger: nestLogger });
  app.enableShutdownHooks();
  logger.info({ queuePrefix: config.queuePrefix }, 'worker started');
}

main().catch((e) => {
  // eslint-disable-next-line no-console
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
