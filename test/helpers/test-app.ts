import type { AddressInfo } from 'node:net';
import { Test } from '@nestjs/testing';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { AppModule } from '../../src/app.module';
import { loadConfig, type AppConfig } from '../../src/config/app-config';
import { createLogger } from '../../src/core/logger';
import { configureHttp } from '../../src/http/configure-http';
import { createTestDatabase, testQueuePrefix, type TestDatabase } from './test-database';

export const TEST_CLIENT_ID = 'test-admin';
export const TEST_CLIENT_SECRET = 'test-admin-secret';
export const TEST_ENCRYPTION_KEY = 'test-encryption-key-0123456789abcdef0123456789';

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  db: TestDatabase;
  /** http://127.0.0.1:<port> of the listening server (for fhir-kit-client). */
  baseUrl: string;
  token: string;
  close(): Promise<void>;
}

/** The real API on its own fresh database and queue prefix, listening on an ephemeral port. */
export async function startTestApp(env: NodeJS.ProcessEnv = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    QUEUE_PREFIX: testQueuePrefix(),
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    AUTH_CLIENT_ID: TEST_CLIENT_ID,
    AUTH_CLIENT_SECRET: TEST_CLIENT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL || 'fatal',
    PORT: '0',
    ...env,
  });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config, createLogger(config.logLevel, 'test'))] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: false });
  configureHttp(app, config);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const token = await fetchToken(app, TEST_CLIENT_ID, TEST_CLIENT_SECRET);
  return {
    app,
    config,
    db,
    baseUrl,
    token,
    close: async () => {
      await app.close();
      await db.drop();
    },
  };
}

export async function fetchToken(app: NestExpressApplication, clientId: string, secret: string): Promise<string> {
  const res = await request(app.getHttpServer())
    .post('/auth/token')
    .type('form')
    .send({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

/** Reads an official HL7 R4 example from the hl7.fhir.r4.examples package. */
export function example<T = Record<string, unknown>>(file: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return JSON.parse(JSON.stringify(require(`hl7.fhir.r4.examples/${file}`))) as T;
}
