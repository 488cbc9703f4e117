import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { bootstrapProcess } from './bootstrap';
import { configureHttp } from './http/configure-http';
import { ValidationPool } from './fhir/definitions/validation-pool';

/** The API process: FHIR REST, auth, health. Workers run apart (workers/main.ts). */
async function main(): Promise<void> {
  const { config, logger, nestLogger } = await bootstrapProcess('api');
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger), { bodyParser: false, logger: nestLogger });
  configureHttp(app, config);
  app.enableShutdownHooks();
  await app.get(ValidationPool).start();
  await app.listen(config.port);
  logger.info({ port: config.port }, `FHIR API listening on http://127.0.0.1:${config.port}/fhir`);
}

main().catch((e) => {
  // eslint-disable-next-line no-console
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
