import request from 'supertest';
import { ApiProcess } from '../helpers/api-process';
import { OwnPgBouncer } from '../helpers/pgbouncer';
import { freePort } from '../helpers/redis-server';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../helpers/test-app';
import { createTestDatabase, rawClient, testQueuePrefix, type TestDatabase } from '../helpers/test-database';
import { waitFor } from '../helpers/wait-for';
import { WorkerProcess, buildForProcesses, ownProcessEnv, type TestBuild } from '../helpers/worker-process';
import type { Client } from 'pg';

/**
 * Two API processes and two worker processes, real ones, on one database and one Redis, the
 * processes reaching PostgreSQL through PgBouncer in transaction mode when it is installed (as
 * docs/SCALING.md recommends): no job is lost or run twice, optimistic locking and conditional
 * creates hold across processes, no concurrent update is lost, and failed sign-ins count across APIs.
 */
jest.setTimeout(300_000);

const FHIR = 'application/fhir+json';
let build: TestBuild;
let db: TestDatabase;
let bouncer: OwnPgBouncer | undefined;
let apis: ApiProcess[] = [];
let workers: WorkerProcess[] = [];
let token: string;
let pg: Client;

beforeAll(async () => {
  build = await buildForProcesses();
  db = await createTestDatabase();
  if (OwnPgBouncer.available()) bouncer = await OwnPgBouncer.start();
  // eslint-disable-next-line no-console
  else console.warn('pgbouncer is not installed (apt-get install pgbouncer): the processes connect to PostgreSQL directly');
  const env = ownProcessEnv(db.url, {
    ...(bouncer ? { DATABASE_URL: bouncer.urlFor(db.url) } : {}),
    DATABASE_DIRECT_URL: db.url,
    PG_POOL_MAX: '4',
    AUDIT_EVENTS: 'writes',
    LOGIN_MAX_FAILURES: '4',
  });
  apis = [new ApiProcess(build, env, await freePort()), new ApiProcess(build, env, await freePort())];
  workers = [new WorkerProcess(build, env), new WorkerProcess(build, env)];
  await Promise.all([...apis.map((a) => a.started), ...workers.map((w) => w.started)]);
  const res = await request(apis[0].baseUrl).post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET });
  expect(res.status).toBe(200);
  token = res.body.access_token;
  pg = await rawClient(db.url);
});

afterAll(async () => {
  await pg?.end();
  await Promise.all([...apis.map((a) => a.stop()), ...workers.map((w) => w.kill('SIGTERM'))]);
  await bouncer?.stop();
  await db?.drop();
  build?.remove();
});

/** The i-th request goes to API process i mod 2. */
const api = (i: number) => request(apis[i % apis.length].baseUrl);
const auth = (r: request.Test) => r.set('Authorization', `Bearer ${token}`).set('Accept', FHIR);

async function create(i: number, resource: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await auth(api(i).post(`/fhir/${resource.resourceType as string}`)).set('Content-Type', FHIR).send(resource);
  if (res.status !== 201) throw new Error(`create ${resource.resourceType as string}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Runs `count` tasks with at most `width` at once. */
async function pooled<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

it('runs the AI job of every write made through either API exactly once, across both workers', async () => {
  const patients = await pooled(4, 4, (i) => create(i, { resourceType: 'Patient', name: [{ family: `Many${i}` }], gender: 'female', birthDate: '1970-01-01' }));
  const feedback = await pooled(24, 6, (i) =>
    create(i, {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      subject: { reference: `Patient/${patients[i % patients.length].id as string}` },
      item: [
        { linkId: 'rating', answer: [{ valueInteger: 1 + (i % 5) }] },
        { linkId: 'comments', answer: [{ valueString: i % 2 ? 'Kind, helpful and wonderful staff.' : 'Rude staff and an awful wait.' }] },
      ],
    }),
  );
  const sources = new Set(feedback.map((f) => `QuestionnaireResponse/${f.id as string}`));
  const scored = async () =>
    (
      await pg.query<{ src: string; n: number }>(
        `SELECT content->'derivedFrom'->0->>'reference' AS src, count(*)::int AS n FROM fhir_patient_resource
          WHERE resource_type = 'Observation' AND NOT deleted GROUP BY 1`,
      )
    ).rows;
  await waitFor('a sentiment for every feedback', async () => ((await scored()).length === sources.size ? true : undefined), 120_000, 500);
  // Give a duplicate, were there one, time to land.
  await new Promise((r) => setTimeout(r, 3000));
  const rows = await scored();
  expect(new Set(rows.map((r) => r.src))).toEqual(sources);
  expect(rows.every((r) => r.n === 1)).toBe(true);
  const { rows: pending } = await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_events WHERE dispatched_at IS NULL');
  expect(pending[0].n).toBe(0);
});

it('lets exactly one of many concurrent If-Match updates through, whichever process they reach', async () => {
  const p = await create(0, { resourceType: 'Patient', name: [{ family: 'Locked' }], gender: 'male' });
  const statuses = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      auth(api(i).put(`/fhir/Patient/${p.id as string}`))
        .set('Content-Type', FHIR)
        .set('If-Match', 'W/"1"')
        .send({ ...p, name: [{ family: `Locked${i}` }] })
        .then((r) => r.status),
    ),
  );
  expect(statuses.filter((s) => s === 200)).toHaveLength(1);
  expect(statuses.filter((s) => s === 412)).toHaveLength(15);
  const read = await auth(api(1).get(`/fhir/Patient/${p.id as string}`));
  expect(read.body.meta.versionId).toBe('2');
});

it('keeps every concurrent unconditional update as its own version (none lost)', async () => {
  const p = await create(1, { resourceType: 'Patient', name: [{ family: 'Busy' }], gender: 'other' });
  const etags = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      auth(api(i).put(`/fhir/Patient/${p.id as string}`))
        .set('Content-Type', FHIR)
        .send({ ...p, name: [{ family: `Busy${i}` }] })
        .then((r) => {
          expect(r.status).toBe(200);
          return r.headers.etag as string;
        }),
    ),
  );
  expect(new Set(etags).size).toBe(16);
  const history = await auth(api(0).get(`/fhir/Patient/${p.id as string}/_history?_count=100`));
  expect(history.body.total).toBe(17);
  const families = (history.body.entry as Array<{ resource: { name: Array<{ family: string }> } }>).map((e) => e.resource.name[0].family);
  expect(new Set(families).size).toBe(17);
});

it('makes one resource of concurrent conditional creates sent to both processes', async () => {
  const statuses = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      auth(api(i).post('/fhir/Practitioner'))
        .set('Content-Type', FHIR)
        .set('If-None-Exist', 'identifier=urn:test:npi|many-1')
        .send({ resourceType: 'Practitioner', identifier: [{ system: 'urn:test:npi', value: 'many-1' }], name: [{ family: 'Once' }] })
        .then((r) => r.status),
    ),
  );
  expect(statuses.filter((s) => s === 201)).toHaveLength(1);
  expect(statuses.filter((s) => s === 200)).toHaveLength(11);
  const found = await auth(api(1).get('/fhir/Practitioner?identifier=urn:test:npi|many-1'));
  expect(found.body.total).toBe(1);
});

it('locks a client id out on both APIs once the failed sign-ins sent to either reach the limit', async () => {
  const signIn = (i: number, secret: string) => api(i).post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'mp-guessed', client_secret: secret });
  // Two failures on each process: four in all, the limit, though neither saw four itself.
  for (let i = 0; i < 4; i++) expect((await signIn(i, `guess-${i}`)).status).toBe(401);
  for (let i = 0; i < 2; i++) {
    const locked = await signIn(i, 'guess-again');
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  }
  // The administrator's id is not affected.
  expect((await api(1).post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET })).status).toBe(200);
});

it('serves the metrics of all four processes from either API', async () => {
  await waitFor('every process in /metrics', async () => {
    const res = await auth(api(1).get('/metrics'));
    const processes = new Set([...String(res.text).matchAll(/process_cpu_user_seconds_total\{role="(\w+)",process="([^"]+)"\}/g)].map((m) => `${m[1]} ${m[2]}`));
    return [...processes].filter((p) => p.startsWith('worker')).length === 2 && [...processes].filter((p) => p.startsWith('api')).length === 2 ? true : undefined;
  }, 20_000, 500);
});
