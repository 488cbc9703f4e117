import request from 'supertest';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Failed client sign-ins are throttled per client id (LOGIN_MAX_FAILURES within
 * LOGIN_LOCKOUT_SECONDS, here 3 within 3 s): the token endpoint and the queue dashboard's HTTP
 * Basic share the count, a locked-out id gets 429 with Retry-After even with the right secret, other
 * ids are not affected, and an unknown client id costs the same scrypt time as a known one.
 */
let t: TestApp;
const server = () => t.app.getHttpServer();
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

function token(clientId: string, secret: string): request.Test {
  return request(server()).post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret });
}

async function newClient(): Promise<{ id: string; secret: string }> {
  const made = await request(server()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).send({ role: 'ehr-system' });
  expect(made.status).toBe(201);
  return { id: made.body.client_id, secret: made.body.client_secret };
}

beforeAll(async () => {
  t = await startTestApp({ LOGIN_MAX_FAILURES: '3', LOGIN_LOCKOUT_SECONDS: '3' });
}, 60000);

afterAll(async () => {
  await t?.close();
});

describe('failed sign-ins', () => {
  it('lock the client id out after 3 failures: 429 with Retry-After even for the right secret, until the lockout ends', async () => {
    const c = await newClient();
    const other = await newClient();
    for (let i = 0; i < 3; i++) expect((await token(c.id, 'wrong')).status).toBe(401);
    const locked = await token(c.id, c.secret);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(3);
    expect(locked.body).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/Too many failed sign-ins/) });
    expect(locked.body.access_token).toBeUndefined();
    // Another client id is not affected.
    expect((await token(other.id, other.secret)).status).toBe(200);

    await new Promise((r) => setTimeout(r, Number(locked.headers['retry-after']) * 1000 + 100));
    expect((await token(c.id, c.secret)).status).toBe(200);
    // A success cleared the count: two more failures do not lock it.
    for (let i = 0; i < 2; i++) expect((await token(c.id, 'wrong')).status).toBe(401);
    expect((await token(c.id, c.secret)).status).toBe(200);
  }, 30000);

  it('through HTTP Basic on /admin/queues count too, and are answered 429 there with an OperationOutcome', async () => {
    for (let i = 0; i < 3; i++) expect((await request(server()).get('/admin/queues').set('Authorization', basic(TEST_CLIENT_ID, 'wrong'))).status).toBe(401);
    const page = await request(server()).get('/admin/queues').set('Authorization', basic(TEST_CLIENT_ID, TEST_CLIENT_SECRET));
    expect(page.status).toBe(429);
    expect(page.headers['retry-after']).toBeDefined();
    expect(page.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
    expect((await token(TEST_CLIENT_ID, TEST_CLIENT_SECRET)).status).toBe(429);
    // Bearer tokens already issued still work: the lockout is on signing in, not on the client.
    expect((await request(server()).get('/admin/queues').set('Authorization', `Bearer ${t.token}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, Number(page.headers['retry-after']) * 1000 + 100));
    expect((await request(server()).get('/admin/queues').set('Authorization', basic(TEST_CLIENT_ID, TEST_CLIENT_SECRET))).status).toBe(200);
  }, 30000);

  it('of an unknown client id take as long as those of a known one (a dummy scrypt hash is checked)', async () => {
    // One wrong try per known client, so that none is locked out.
    const known = await Promise.all(Array.from({ length: 6 }, () => newClient()));
    const timed = async (id: string) => {
      const started = process.hrtime.bigint();
      expect((await token(id, 'wrong')).status).toBe(401);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const knownMs: number[] = [];
    const unknownMs: number[] = [];
    for (let i = 0; i < known.length; i++) {
      knownMs.push(await timed(known[i].id));
      unknownMs.push(await timed(`no-such-client-${i}-${Date.now()}`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // Without the dummy hash an unknown id skipped scrypt entirely (about a quarter of the time).
    expect(median(unknownMs)).toBeGreaterThan(median(knownMs) * 0.6);
  }, 60000);
});
