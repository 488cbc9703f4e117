import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import WebSocket from 'ws';
import { FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
import { fhirKitClient, loadFhirKitClient } from '../helpers/fhir-kit';
import { patient } from '../helpers/resources';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';

/**
 * FHIR R4 Subscriptions end to end: a Subscription is checked when written and made active; a
 * committed change that matches its criteria reaches a rest-hook endpoint (a PUT of the resource,
 * or an empty POST) or a websocket client (`ping <id>`) through the outbox, the resource-events
 * queue and the subscription-deliveries queue; failed deliveries are retried and end in `error`.
 */
interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let hook: Server;
let hookBase: string;
const received: Received[] = [];
let patientId: string;

beforeAll(async () => {
  t = await startTestApp({ SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: 'true', SUBSCRIPTION_DELIVERY_ATTEMPTS: '2' });
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.statusCode = (req.url ?? '').startsWith('/broken') ? 500 : 200;
      res.end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookBase = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
  patientId = ((await api.created(patient())) as Json).id as string;
}, 60000);

afterAll(async () => {
  await new Promise((r) => hook?.close(r));
  await worker?.close();
  await t?.close();
});

const heartRate = (value: number, code = '8867-4'): Json => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patientId}` },
  valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});

function subscription(criteria: string, channel: Json, extra: Json = {}): Json {
  return { resourceType: 'Subscription', status: 'requested', reason: 'test', criteria, channel, ...extra };
}

const at = (prefix: string) => received.filter((r) => r.url.startsWith(prefix));

describe('writing a Subscription', () => {
  it.each([
    ['criteria that are not a search', subscription('Observation code=1', { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/x' }), 'Subscription.criteria'],
    ['an unknown resource type', subscription('Nothing?code=1', { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/x' }), 'Subscription.criteria'],
    ['an unknown search parameter', subscription('Observation?colour=red', { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/x' }), 'Subscription.criteria'],
    ['a channel this server does not deliver', subscription('Observation?code=1', { type: 'email', endpoint: 'mailto:a@b.c' }), 'Subscription.channel.type'],
    ['a rest-hook without an http endpoint', subscription('Observation?code=1', { type: 'rest-hook', endpoint: 'ftp://example.org/x' }), 'Subscription.channel.endpoint'],
    ['an unsupported payload', subscription('Observation?code=1', { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/x', payload: 'text/csv' }), 'Subscription.channel.payload'],
    ['a header that is not "Name: value"', subscription('Observation?code=1', { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/x', header: ['no colon here'] }), 'Subscription.channel.header[0]'],
    ['a masked header with no value stored before', subscription('Observation?code=1', { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/x', header: ['Authorization: (hidden)'] }), 'Subscription.channel.header[0]'],
    ['a client claiming the error status', { ...subscription('Observation?code=1', { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/x' }), status: 'error' }, 'Subscription.status'],
  ])('refuses %s with a 400 naming it, storing nothing', async (_what, body, path) => {
    const before = await api.search('Subscription', { _summary: 'count' });
    const res = await api.create(body);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(res.body.issue)).toContain(path);
    const after = await api.search('Subscription', { _summary: 'count' });
    expect(after.body.total).toBe(before.body.total);
  });

  it('makes a requested Subscription active (also through fhir-kit-client)', async () => {
    await loadFhirKitClient();
    const client = fhirKitClient(t.baseUrl, t.token);
    const created = (await client.create({
      resourceType: 'Subscription',
      body: subscription('Observation?code=http://loinc.org|1234-5', { type: 'rest-hook', endpoint: `${hookBase}/unused` }) as { resourceType: 'Subscription' },
    })) as Json;
    expect(created.status).toBe('active');
    const read = (await client.read({ resourceType: 'Subscription', id: created.id as string })) as Json;
    expect(read.status).toBe('active');
  });
});

describe('what the server makes of a written Subscription', () => {
  it('stores off a Subscription whose end has already passed (R4: the server turns it off at its end)', async () => {
    const past = await api.created(subscription('Observation?code=1', { type: 'websocket' }, { end: '2020-01-01T00:00:00Z' }));
    expect(past.status).toBe('off');
    expect(((await api.read('Subscription', past.id as string)).body as Json).status).toBe('off');
    expect((await api.created(subscription('Observation?code=1', { type: 'websocket' }, { end: '2999-01-01T00:00:00Z' }))).status).toBe('active');
  });

  it('turns an active Subscription off once its end passes, as a client reading it sees', async () => {
    const sub = await api.created(subscription('Observation?code=1', { type: 'websocket' }, { end: new Date(Date.now() + 1500).toISOString() }));
    expect(sub.status).toBe('active');
    const read = await waitFor('the ended Subscription to be off', async () => {
      const body = (await api.read('Subscription', sub.id as string)).body as Json;
      return body.status === 'off' && body;
    });
    expect(read.end).toBe(sub.end);
  });

  it('keeps the stored value of a header a non-administrator writer sends back masked', async () => {
    const ehr = expectStatus(
      await request(t.app.getHttpServer()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send('{"role":"ehr-system"}'),
      201,
    ).body as Json;
    const token = await fetchToken(t.app, ehr.client_id as string, ehr.client_secret as string);
    const put = (body: Json) =>
      request(t.app.getHttpServer()).put(`/fhir/Subscription/${body.id as string}`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
    const created = expectStatus(
      await request(t.app.getHttpServer())
        .post('/fhir/Subscription')
        .set('Authorization', `Bearer ${token}`)
        .set('Content-Type', 'application/fhir+json')
        .send(JSON.stringify(subscription('Observation?code=http://loinc.org|1742-6', { type: 'rest-hook', endpoint: `${hookBase}/masked`, header: ['Authorization: Bearer real-secret', 'X-Other: other'] }))),
      201,
    ).body as Json;
    expect(created.channel.header).toEqual(['Authorization: (hidden)', 'X-Other: (hidden)']);
    // Re-activated as documented: PUT back what the write answered, as requested, one header changed.
    const again = expectStatus(await put({ ...created, status: 'requested', channel: { ...created.channel, header: ['Authorization: (hidden)', 'X-Other: changed'] } }), 200).body as Json;
    expect(again.status).toBe('active');
    const stored = (await api.read('Subscription', created.id as string)).body as Json;
    expect(stored.channel.header).toEqual(['Authorization: Bearer real-secret', 'X-Other: changed']);
    await api.created(heartRate(40, '1742-6'));
    const [hit] = await waitFor('the notification', async () => {
      const got = at('/masked');
      return got.length ? got : undefined;
    }, 20000);
    expect(hit.headers.authorization).toBe('Bearer real-secret');

    // The stored secret does not follow the channel to another server, by PUT with the mask or by PATCH.
    const elsewhere = 'http://203.0.113.9/hook';
    const moved = await put({ ...again, channel: { ...again.channel, endpoint: elsewhere, header: ['Authorization: (hidden)'] } });
    expect(moved.status).toBe(400);
    expect(JSON.stringify(moved.body)).toMatch(/another server/);
    const patched = await request(t.app.getHttpServer())
      .patch(`/fhir/Subscription/${created.id as string}`)
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/channel/endpoint', value: elsewhere }]));
    expect(patched.status).toBe(400);
    expect(((await api.read('Subscription', created.id as string)).body as Json).channel).toMatchObject({ endpoint: `${hookBase}/masked`, header: ['Authorization: Bearer real-secret', 'X-Other: changed'] });
    // Another path on the same server keeps them.
    expectStatus(await put({ ...again, channel: { ...again.channel, endpoint: `${hookBase}/masked-2` } }), 200);
    expect(((await api.read('Subscription', created.id as string)).body as Json).channel.header).toEqual(['Authorization: Bearer real-secret', 'X-Other: changed']);
  }, 60000);

  it('notifies every resource of the type for criteria that are a bare type', async () => {
    const sub = await api.created(subscription('Basic', { type: 'rest-hook', endpoint: `${hookBase}/bare-type` }));
    expect(sub.status).toBe('active');
    expect((await api.created(subscription('Basic?', { type: 'rest-hook', endpoint: `${hookBase}/unused` }))).status).toBe('active');
    await api.created({ resourceType: 'Basic', code: { text: 'one' } });
    await api.created({ resourceType: 'Basic', code: { text: 'two' } });
    await waitFor('two notifications', async () => at('/bare-type').length === 2 || undefined, 20000);
  }, 60000);
});

describe('rest-hook', () => {
  it('PUTs each matching version to [endpoint]/[type]/[id] with the channel headers, and nothing else', async () => {
    const sub = await api.created(
      subscription('Observation?code=http://loinc.org|8867-4', { type: 'rest-hook', endpoint: `${hookBase}/fhir-base`, payload: 'application/fhir+json', header: ['X-Hook-Token: s3cret'] }),
    );
    expect(sub.status).toBe('active');
    const other = await api.created(heartRate(37, '8310-5'));
    const obs = await api.created(heartRate(72));
    const [put] = await waitFor('the notification', async () => {
      const got = at(`/fhir-base/Observation/${obs.id as string}`);
      return got.length ? got : undefined;
    }, 20000);
    expect(put.method).toBe('PUT');
    expect(put.headers['x-hook-token']).toBe('s3cret');
    expect(put.headers['content-type']).toContain('application/fhir+json');
    const body = JSON.parse(put.body) as Json;
    expect(body).toMatchObject({ resourceType: 'Observation', id: obs.id, meta: { versionId: '1' }, valueQuantity: { value: 72 } });

    // An update that still matches is notified again, with its new version; a deletion is not (R4).
    await api.updated({ ...obs, valueQuantity: { value: 80, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } });
    await waitFor('the second notification', async () => (at(`/fhir-base/Observation/${obs.id as string}`).length === 2 ? true : undefined), 20000);
    const second = JSON.parse(at(`/fhir-base/Observation/${obs.id as string}`)[1].body) as Json;
    expect((second.meta as Json).versionId).toBe('2');
    expectStatus(await api.delete('Observation', obs.id as string), 200);
    await new Promise((r) => setTimeout(r, 2500));
    expect(at(`/fhir-base/Observation/${obs.id as string}`)).toHaveLength(2);
    expect(at(`/fhir-base/Observation/${other.id as string}`)).toHaveLength(0);
  }, 60000);

  it('POSTs an empty notification when the Subscription asks for no payload', async () => {
    await api.created(subscription(`Observation?code=http://loinc.org|8480-6&subject=Patient/${patientId}`, { type: 'rest-hook', endpoint: `${hookBase}/ping-only` }));
    await api.created(heartRate(120, '8480-6'));
    const [ping] = await waitFor('the ping', async () => {
      const got = at('/ping-only');
      return got.length ? got : undefined;
    }, 20000);
    expect(ping.method).toBe('POST');
    expect(ping.body).toBe('');
  }, 60000);

  it('retries a failing endpoint, then sets the Subscription to error with the reason', async () => {
    const sub = await api.created(subscription('Observation?code=http://loinc.org|2708-6', { type: 'rest-hook', endpoint: `${hookBase}/broken` }));
    await api.created(heartRate(95, '2708-6'));
    const failed = await waitFor('the Subscription in error', async () => {
      const r = (await api.read('Subscription', sub.id as string)).body as Json;
      return r.status === 'error' ? r : undefined;
    }, 30000, 250);
    expect(failed.error).toMatch(/answered 500/);
    expect(at('/broken')).toHaveLength(2); // SUBSCRIPTION_DELIVERY_ATTEMPTS
    // A client turns it back on by asking again.
    const again = await api.updated({ ...failed, status: 'requested' });
    expect(again.status).toBe('active');
    expect(again.error).toBeUndefined();
  }, 60000);
});

describe('websocket', () => {
  const wsUrl = () => `${t.baseUrl.replace(/^http/, 'ws')}/fhir/websocket`;

  it('is advertised in the CapabilityStatement', async () => {
    const res = await request(t.app.getHttpServer()).get('/fhir/metadata');
    const ext = (res.body.rest[0].extension as Array<{ url: string; valueUri: string }>).find((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket');
    expect(ext?.valueUri).toBe(wsUrl());
  });

  it('refuses a connection without a token', async () => {
    const ws = new WebSocket(wsUrl());
    const error = await new Promise<Error>((resolve) => ws.once('error', resolve));
    expect(error.message).toMatch(/401/);
  });

  it('binds a client to its Subscription and pings it when a change matches', async () => {
    const sub = await api.created(subscription(`Observation?code=http://loinc.org|9279-1&subject=Patient/${patientId}`, { type: 'websocket' }));
    const ws = new WebSocket(wsUrl(), { headers: { Authorization: `Bearer ${t.token}` } });
    const messages: string[] = [];
    ws.on('message', (d) => messages.push(d.toString()));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send('bind no-such-subscription');
    ws.send(`bind ${sub.id as string}`);
    await waitFor('bound', async () => (messages.includes(`bound ${sub.id as string}`) ? true : undefined));
    expect(messages.find((m) => m.startsWith('error no-such-subscription '))).toMatch(/cannot bind/);
    await api.created(heartRate(18, '9279-1'));
    await waitFor('the ping', async () => (messages.includes(`ping ${sub.id as string}`) ? true : undefined), 20000);
    ws.close();
  }, 60000);
});
