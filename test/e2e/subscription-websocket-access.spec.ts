import request from 'supertest';
import { SignJWT, decodeJwt } from 'jose';
import { SigningKeyService, TOKEN_ALG } from '../../src/auth/signing-key.service';
import { FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
import { patient } from '../helpers/resources';
import { openSubscriptionSocket, type SubscriptionSocket } from '../helpers/subscription-socket';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';

/**
 * Who may listen on the websocket channel, and for how long: binding needs the right to read the
 * Subscription (administrators), every refused bind answers alike, and a socket whose token is
 * revoked, rotated or expired is closed, as a binding ends when its Subscription is deleted or off.
 */
let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let patientA: string;
let patientB: string;
const sockets: SubscriptionSocket[] = [];

const server = () => t.app.getHttpServer();

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  patientA = (await api.created(patient())).id as string;
  patientB = (await api.created(patient({ given: 'Blair' }))).id as string;
}, 60000);

afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await worker?.close();
  await t?.close();
});

async function open(token: string): Promise<SubscriptionSocket> {
  const s = await openSubscriptionSocket(t, token);
  sockets.push(s);
  return s;
}

/** A new client of the role (through /api/clients, as the bootstrap admin) and a token for it. */
async function newClient(body: Json): Promise<{ clientId: string; secret: string; token: string }> {
  const res = expectStatus(await request(server()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send(JSON.stringify(body)), 201);
  return { clientId: res.body.client_id, secret: res.body.client_secret, token: await fetchToken(t.app, res.body.client_id, res.body.client_secret) };
}

const websocketSub = async (criteria: string, extra: Json = {}): Promise<Json> =>
  api.created({ resourceType: 'Subscription', status: 'requested', reason: 'test', criteria, channel: { type: 'websocket' }, ...extra });

const observation = (code: string, patientId: string): Json => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patientId}` },
  valueQuantity: { value: 1, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});

/** The refusal with its id taken out: the same text for every refused bind. */
const refusalText = (answer: string, id: string) => answer.replace(` ${id} `, ' <id> ');

describe('binding', () => {
  it('is refused alike to tokens that may not read the Subscription, to unknown ids, and to Subscriptions that are not active websocket ones', async () => {
    const sub = await websocketSub('Observation?code=http://loinc.org|1234-5');
    const restHook = await api.created({ resourceType: 'Subscription', status: 'requested', reason: 'test', criteria: 'Observation?code=1', channel: { type: 'rest-hook', endpoint: 'https://8.8.8.8/hook' } });
    const off = await websocketSub('Observation?code=2', { status: 'off' });
    const patientClient = await newClient({ role: 'patient', patient: `Patient/${patientA}` });
    const ehr = await newClient({ role: 'ehr-system' });
    // The same tokens get 403 on GET /fhir/Subscription/{id}: binding needs what reading needs.
    for (const token of [patientClient.token, ehr.token]) expect((await request(server()).get(`/fhir/Subscription/${sub.id as string}`).set('Authorization', `Bearer ${token}`)).status).toBe(403);

    const asPatient = await open(patientClient.token);
    const asEhr = await open(ehr.token);
    const asAdmin = await open(t.token);
    const answers = [
      [await asPatient.bind(sub.id as string), sub.id],
      [await asPatient.bind('no-such-subscription'), 'no-such-subscription'],
      [await asEhr.bind(sub.id as string), sub.id],
      [await asAdmin.bind('no-such-subscription'), 'no-such-subscription'],
      [await asAdmin.bind(restHook.id as string), restHook.id],
      [await asAdmin.bind(off.id as string), off.id],
    ] as Array<[string, string]>;
    for (const [answer, id] of answers) expect(answer.startsWith(`error ${id} `)).toBe(true);
    expect(new Set(answers.map(([answer, id]) => refusalText(answer, id))).size).toBe(1);
    expect(await asAdmin.bind(sub.id as string)).toBe(`bound ${sub.id as string}`);

    // A change about another patient reaches the administrator's socket and never the patient's.
    await api.created(observation('1234-5', patientB));
    await asAdmin.next(`ping ${sub.id as string}`, 20000);
    await new Promise((r) => setTimeout(r, 500));
    expect(asPatient.messages.filter((m) => m.startsWith('ping'))).toEqual([]);
    expect(asEhr.messages.filter((m) => m.startsWith('ping'))).toEqual([]);
  }, 60000);

  it('ends when the Subscription is deleted or turned off', async () => {
    const a = await websocketSub('Observation?code=http://loinc.org|2000-1');
    const b = await websocketSub('Observation?code=http://loinc.org|2000-2');
    const s = await open(t.token);
    expect(await s.bind(a.id as string)).toBe(`bound ${a.id as string}`);
    expect(await s.bind(b.id as string)).toBe(`bound ${b.id as string}`);
    expectStatus(await api.delete('Subscription', a.id as string), 200);
    await s.next(`unbound ${a.id as string}`, 10000);
    await api.updated({ ...b, status: 'off' });
    await s.next(`unbound ${b.id as string}`, 10000);
    // Turned on again, it pings no one until a client binds again.
    await api.updated({ ...b, status: 'requested' });
    await api.created(observation('2000-2', patientA));
    await new Promise((r) => setTimeout(r, 3000));
    expect(s.messages.filter((m) => m.startsWith('ping'))).toEqual([]);
    expect(s.closed).toBeUndefined();
  }, 60000);
});

describe('the socket of a token that stops being valid', () => {
  it('is closed when its client is revoked, and the token can no longer connect', async () => {
    const sub = await websocketSub('Observation?code=http://loinc.org|3000-1');
    const admin = await newClient({ role: 'admin' });
    const s = await open(admin.token);
    expect(await s.bind(sub.id as string)).toBe(`bound ${sub.id as string}`);
    expectStatus(await request(server()).delete(`/api/clients/${admin.clientId}`).set('Authorization', `Bearer ${t.token}`), 200);
    const revokedAt = Date.now();
    const closed = await waitFor('the socket closed', async () => s.closed, 8000, 50);
    expect(Date.now() - revokedAt).toBeLessThanOrEqual(6000);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/revoked/);
    await api.created(observation('3000-1', patientA));
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.messages.filter((m) => m.startsWith('ping'))).toEqual([]);
    await expect(openSubscriptionSocket(t, admin.token)).rejects.toThrow(/401/);
  }, 60000);

  it('is closed when its client secret is rotated', async () => {
    const admin = await newClient({ role: 'admin' });
    const s = await open(admin.token);
    expectStatus(await request(server()).post(`/api/clients/${admin.clientId}/rotate`).set('Authorization', `Bearer ${t.token}`), 200);
    const closed = await waitFor('the socket closed', async () => s.closed, 8000, 50);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/rotated/);
  }, 30000);

  it('is closed when its token expires', async () => {
    // The bootstrap admin's own claims, signed with the server's key, valid for 3 seconds.
    const claims = decodeJwt(t.token);
    const { kid, key } = t.app.get(SigningKeyService).signingKey();
    const shortLived = await new SignJWT({ scope: claims.scope, role: claims.role, gen: claims.gen })
      .setProtectedHeader({ alg: TOKEN_ALG, kid, typ: 'JWT' })
      .setIssuer(claims.iss as string)
      .setAudience(claims.aud as string)
      .setSubject(claims.sub as string)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3)
      .sign(key);
    const s = await open(shortLived);
    const closed = await waitFor('the socket closed', async () => s.closed, 10000, 50);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/expired/);
  }, 30000);
});
