import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from 'pg';
import request from 'supertest';
import { KeyRing } from '../../src/crypto/key-ring';
import { FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
import { freePort } from '../helpers/redis-server';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, fetchToken, startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';

/**
 * The administrators' connections API: a connection to an external FHIR server is created with
 * its Endpoint resource (same id) in one transaction, its secret encrypted at rest and never shown;
 * bad requests are refused field by field and store nothing; a check reads the remote's
 * CapabilityStatement (another running instance of this server, through OAuth2 client
 * credentials) and records failures with their OperationOutcome; a sync request queues one run.
 */
let local: TestApp; // CONNECTION_ALLOW_PRIVATE_ENDPOINTS=true: may call 127.0.0.1
let remote: TestApp; // the external EHR; also an app without the flag
let api: FhirApi;
let pg: Client;
let keys: KeyRing;
let ehrToken: string;
let scientistToken: string;
let r5: Server;
let r5Base: string;
/** Every response body seen, to show that no secret ever comes back. */
const bodies: string[] = [];

const BEARER_TOKEN = 'bearer-Token-9f8e7d6c5b4a';
const WRONG_SECRET = 'definitely-Wrong-secret-123';

const server = (t: TestApp = local) => t.app.getHttpServer();

/** Sends with the token given, the local admin's by default, or none when `token` is null. */
async function call(r: request.Test, token: string | null = local.token): Promise<request.Response> {
  const res = await (token ? r.set('Authorization', `Bearer ${token}`) : r);
  bodies.push(res.text ?? '');
  return res;
}
const post = (path: string, body?: unknown, token?: string, t = local) =>
  call(request(server(t)).post(path).set('Content-Type', 'application/json').send(body === undefined ? '' : JSON.stringify(body)), token ?? t.token);
const patch = (path: string, body: unknown, token?: string) => call(request(server()).patch(path).set('Content-Type', 'application/json').send(JSON.stringify(body)), token);
const get = (path: string, token?: string, t = local) => call(request(server(t)).get(path), token ?? t.token);
const del = (path: string, token?: string) => call(request(server()).delete(path), token);

function remoteAuth(secret = TEST_CLIENT_SECRET): Json {
  return { type: 'client_credentials', tokenUrl: `${remote.baseUrl}/auth/token`, clientId: TEST_CLIENT_ID, clientSecret: secret, scope: 'system/*.rs' };
}

async function rowCount(): Promise<number> {
  return Number((await pg.query('SELECT count(*) AS n FROM exchange_connections')).rows[0].n);
}

async function endpointCount(): Promise<number> {
  return expectStatus(await api.search('Endpoint', { _summary: 'count' }), 200).body.total as number;
}

async function decryptedSecret(id: string): Promise<{ secret: string | null; raw: Buffer | null }> {
  const { rows } = await pg.query('SELECT secret_enc, fhir_decrypt(secret_enc, key_id, $1::text[]) AS secret FROM exchange_connections WHERE id = $2', [keys.decryptionKeys(), id]);
  return { secret: rows[0].secret, raw: rows[0].secret_enc };
}

async function created(body: Json): Promise<Json> {
  return expectStatus(await post('/api/connections', body), 201).body as Json;
}

async function newClientToken(role: string): Promise<string> {
  const res = expectStatus(await post('/api/clients', { role }), 201);
  return fetchToken(local.app, res.body.client_id, res.body.client_secret);
}

beforeAll(async () => {
  [local, remote] = await Promise.all([startTestApp({ CONNECTION_ALLOW_PRIVATE_ENDPOINTS: 'true', EXCHANGE_TIMEOUT_MS: '10000' }), startTestApp({ EXCHANGE_TIMEOUT_MS: '10000' })]);
  api = new FhirApi(local);
  pg = await rawClient(local.db.url);
  keys = local.app.get(KeyRing);
  ehrToken = await newClientToken('ehr-system');
  scientistToken = await newClientToken('data-scientist');
  // A FHIR server that is not R4.
  r5 = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify({ resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '5.0.0', format: ['json'], rest: [{ mode: 'server' }] }));
  });
  await new Promise<void>((r) => r5.listen(0, '127.0.0.1', r));
  r5Base = `http://127.0.0.1:${(r5.address() as AddressInfo).port}/fhir`;
}, 120000);

afterAll(async () => {
  await pg?.end();
  await new Promise((r) => (r5 ? r5.close(r) : r(undefined)));
  await Promise.all([local?.close(), remote?.close()]);
});

describe('who may manage connections', () => {
  it('needs a token (401) and the admin scope (403), as OperationOutcomes', async () => {
    const anonymous = await call(request(server()).get('/api/connections'), null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.resourceType).toBe('OperationOutcome');
    for (const token of [ehrToken, scientistToken]) {
      for (const res of [
        await get('/api/connections', token),
        await post('/api/connections', { name: 'x', baseUrl: 'https://x.example.org/fhir', auth: { type: 'none' } }, token),
        await post('/api/connections/any/check', undefined, token),
        await post('/api/connections/any/sync', undefined, token),
      ]) {
        expect(res.status).toBe(403);
        expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
      }
    }
    expect(await rowCount()).toBe(0);
  });
});

describe('creating connections', () => {
  it('creates a connection without auth, with its Endpoint readable and searchable', async () => {
    const res = expectStatus(await post('/api/connections', { name: 'Open EHR', baseUrl: 'https://open.example.org/fhir/', auth: { type: 'none' }, syncIntervalSeconds: 300 }), 201);
    const c = res.body as Json;
    expect(res.headers.location).toBe(`/api/connections/${c.id}`);
    expect(c).toMatchObject({
      name: 'Open EHR',
      baseUrl: 'https://open.example.org/fhir',
      endpoint: `Endpoint/${c.id}`,
      status: 'active',
      auth: { type: 'none', secretStored: false },
      resourceTypes: null,
      syncIntervalSeconds: 300,
      lastCheck: null,
      lastSync: null,
      counts: { resourcesIn: 0, resourcesOut: 0, failures: 0 },
      deadLetters: 0,
      recentFailures: [],
      recentRuns: [],
    });
    const endpoint = expectStatus(await api.read('Endpoint', c.id), 200).body as Json;
    expect(endpoint).toMatchObject({
      resourceType: 'Endpoint',
      id: c.id,
      status: 'active',
      connectionType: { system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type', code: 'hl7-fhir-rest' },
      name: 'Open EHR',
      address: 'https://open.example.org/fhir',
      payloadMimeType: ['application/fhir+json'],
      meta: { versionId: '1' },
    });
    expect(endpoint.payloadType.length).toBeGreaterThan(0);
    const found = expectStatus(await api.search('Endpoint', { name: 'Open EHR', 'connection-type': 'hl7-fhir-rest' }), 200).body as Json;
    expect(found.entry.map((e: Json) => e.resource.id)).toEqual([c.id]);
    // Written under the administrator's name, like every other write.
    const audit = await pg.query("SELECT actor FROM audit_log WHERE table_name = 'exchange_connections' AND row_key->>'id' = $1", [c.id]);
    expect(audit.rows.map((r) => r.actor)).toEqual([`client:${TEST_CLIENT_ID}`]);
  });

  it('stores a bearer token encrypted and never shows it', async () => {
    const c = await created({ name: 'Bearer EHR', baseUrl: 'https://bearer.example.org/r4', auth: { type: 'bearer', token: BEARER_TOKEN }, resourceTypes: ['Patient', 'Observation'] });
    expect(c.auth).toEqual({ type: 'bearer', secretStored: true });
    expect(c.resourceTypes).toEqual(['Patient', 'Observation']);
    const { secret, raw } = await decryptedSecret(c.id);
    expect(raw).not.toBeNull();
    expect((raw as Buffer).includes(Buffer.from(BEARER_TOKEN))).toBe(false);
    expect(secret).toBe(BEARER_TOKEN);
    const endpoint = await api.read('Endpoint', c.id);
    expect(endpoint.text).not.toContain(BEARER_TOKEN);
    expect(JSON.stringify(expectStatus(await get(`/api/connections/${c.id}`), 200).body)).not.toContain(BEARER_TOKEN);
  });

  it('stores a client secret encrypted and shows the rest of the client credentials', async () => {
    const c = await created({ name: 'Remote EHR', baseUrl: `${remote.baseUrl}/fhir`, auth: remoteAuth() });
    expect(c.auth).toEqual({ type: 'client_credentials', tokenUrl: `${remote.baseUrl}/auth/token`, clientId: TEST_CLIENT_ID, scope: 'system/*.rs', secretStored: true });
    const { secret, raw } = await decryptedSecret(c.id);
    expect((raw as Buffer).includes(Buffer.from(TEST_CLIENT_SECRET))).toBe(false);
    expect(secret).toBe(TEST_CLIENT_SECRET);
    const list = expectStatus(await get('/api/connections'), 200).body as Json[];
    expect(list.map((x) => x.name)).toEqual(['Bearer EHR', 'Open EHR', 'Remote EHR']);
    expect(JSON.stringify(list)).not.toContain(TEST_CLIENT_SECRET);
  });

  it('refuses a bad request with a 400 naming the field, storing nothing', async () => {
    const rows = await rowCount();
    const endpoints = await endpointCount();
    const base = { name: 'Refused', baseUrl: 'https://refused.example.org/fhir', auth: { type: 'bearer', token: BEARER_TOKEN } };
    const cases: Array<[Json | Json[], string | undefined]> = [
      [[base], undefined],
      [{ ...base, name: undefined }, 'name'],
      [{ ...base, baseUrl: 'refused.example.org/fhir' }, 'baseUrl'],
      [{ ...base, baseUrl: 'ftp://refused.example.org/fhir' }, 'baseUrl'],
      [{ ...base, baseUrl: `https://admin:${BEARER_TOKEN}@refused.example.org/fhir` }, 'baseUrl'],
      [{ ...base, baseUrl: 'https://refused.example.org/fhir#top' }, 'baseUrl'],
      [{ ...base, auth: undefined }, 'auth'],
      [{ ...base, auth: { type: 'basic', token: BEARER_TOKEN } }, 'auth.type'],
      [{ ...base, auth: { type: 'bearer' } }, 'auth.token'],
      [{ ...base, auth: { ...remoteAuth(BEARER_TOKEN), tokenUrl: '/auth/token' } }, 'auth.tokenUrl'],
      [{ ...base, auth: { ...remoteAuth(BEARER_TOKEN), tokenUrl: `http://u:${BEARER_TOKEN}@127.0.0.1/token` } }, 'auth.tokenUrl'],
      [{ ...base, auth: { ...remoteAuth(BEARER_TOKEN), clientId: undefined } }, 'auth.clientId'],
      [{ ...base, auth: { ...remoteAuth(), clientSecret: undefined } }, 'auth.clientSecret'],
      [{ ...base, resourceTypes: ['Patient', 'Pateint'] }, 'resourceTypes[1]'],
      [{ ...base, resourceTypes: 'Patient' }, 'resourceTypes'],
      [{ ...base, syncIntervalSeconds: 30 }, 'syncIntervalSeconds'],
      [{ ...base, baseURL: 'https://x.example.org' }, 'baseURL'],
    ];
    for (const [body, field] of cases) {
      const res = await post('/api/connections', body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.resourceType).toBe('OperationOutcome');
      if (field) expect({ body, expression: res.body.issue[0].expression }).toEqual({ body, expression: [field] });
      expect(res.text).not.toContain(BEARER_TOKEN);
    }
    const malformed = await call(request(server()).post('/api/connections').set('Content-Type', 'application/json').send('{"name": '));
    expect(malformed.status).toBe(400);
    expect(await rowCount()).toBe(rows);
    expect(await endpointCount()).toBe(endpoints);
  });

  it('refuses a second connection of the same name with 409, storing nothing', async () => {
    const rows = await rowCount();
    const endpoints = await endpointCount();
    const res = await post('/api/connections', { name: 'Open EHR', baseUrl: 'https://other.example.org/fhir', auth: { type: 'none' } });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'duplicate' }] });
    expect(await rowCount()).toBe(rows);
    expect(await endpointCount()).toBe(endpoints);
  });

  it('answers 404 for an unknown connection', async () => {
    for (const res of [
      await get('/api/connections/nope'),
      await patch('/api/connections/nope', { name: 'x' }),
      await del('/api/connections/nope'),
      await post('/api/connections/nope/check'),
      await post('/api/connections/nope/sync'),
      await get('/api/connections/nope/syncs/1'),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
  });
});

function connectionNamed(name: string): Promise<Json> {
  return get('/api/connections').then((res) => (res.body as Json[]).find((c) => c.name === name) as Json);
}

describe('checking a connection', () => {
  it('reads the remote CapabilityStatement through OAuth2 client credentials', async () => {
    const c = await connectionNamed('Remote EHR');
    const res = expectStatus(await post(`/api/connections/${c.id}/check`), 200);
    expect(res.body).toMatchObject({ ok: true, fhirVersion: '4.0.1', software: { name: 'fhir-ai-server' }, export: true });
    expect(res.body.exportLevels).toContain('system');
    expect(res.body.searchTypes).toEqual(expect.arrayContaining(['Patient', 'Observation', 'Endpoint']));
    const view = expectStatus(await get(`/api/connections/${c.id}`), 200).body as Json;
    expect(view.lastCheck).toMatchObject({ ok: true, at: res.body.at, fhirVersion: '4.0.1', export: true });
    expect(view.counts.failures).toBe(0);
    expect(view.recentFailures).toEqual([]);
  });

  it('reports a wrong client secret as a failure with its OperationOutcome, and counts it', async () => {
    // Another base URL than 'Remote EHR' (one active connection per remote); the token request fails before it is used.
    const c = await created({ name: 'Wrong secret', baseUrl: `${remote.baseUrl}/fhir-wrong-secret`, auth: remoteAuth(WRONG_SECRET) });
    const res = expectStatus(await post(`/api/connections/${c.id}/check`), 200);
    expect(res.body.ok).toBe(false);
    expect(res.body.outcome).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
    expect(res.body.outcome.issue[0].diagnostics).toMatch(/token request .* answered 401/);
    const view = expectStatus(await get(`/api/connections/${c.id}`), 200).body as Json;
    expect(view.lastCheck).toMatchObject({ ok: false, outcome: res.body.outcome });
    expect(view.counts.failures).toBe(1);
    expect(view.recentFailures).toEqual([expect.objectContaining({ direction: 'check', outcome: res.body.outcome })]);
    const rows = await pg.query('SELECT direction, outcome FROM exchange_failures WHERE connection_id = $1', [c.id]);
    expect(rows.rows).toEqual([{ direction: 'check', outcome: res.body.outcome }]);
  });

  it('reports a remote that does not answer (a closed port)', async () => {
    const port = await freePort();
    const c = await created({ name: 'Closed port', baseUrl: `http://127.0.0.1:${port}/fhir`, auth: { type: 'bearer', token: BEARER_TOKEN } });
    const res = expectStatus(await post(`/api/connections/${c.id}/check`), 200);
    expect(res.body).toMatchObject({ ok: false, outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error' }] } });
    expect(res.body.outcome.issue[0].diagnostics).toMatch(/GET metadata failed/);
    expect((await get(`/api/connections/${c.id}`)).body.counts.failures).toBe(1);
  });

  it('refuses a remote that is not FHIR R4', async () => {
    const c = await created({ name: 'R5 server', baseUrl: r5Base, auth: { type: 'none' } });
    const res = expectStatus(await post(`/api/connections/${c.id}/check`), 200);
    expect(res.body).toMatchObject({ ok: false, fhirVersion: '5.0.0' });
    expect(res.body.outcome.issue[0].diagnostics).toMatch(/FHIR 5\.0\.0, not FHIR R4/);
  });

  it('refuses a private address where private endpoints are not allowed', async () => {
    const res = expectStatus(await post('/api/connections', { name: 'Myself', baseUrl: `${remote.baseUrl}/fhir`, auth: { type: 'none' } }, remote.token, remote), 201);
    const check = expectStatus(await post(`/api/connections/${res.body.id}/check`, undefined, remote.token, remote), 200);
    expect(check.body.ok).toBe(false);
    expect(check.body.outcome.issue[0]).toMatchObject({ code: 'security' });
    expect(check.body.outcome.issue[0].diagnostics).toMatch(/CONNECTION_ALLOW_PRIVATE_ENDPOINTS/);
    expect((await get(`/api/connections/${res.body.id}`, remote.token, remote)).body.recentFailures).toHaveLength(1);
  });
});

describe('asking for a sync', () => {
  it('queues one run (202) and answers the same run while it is open', async () => {
    const c = await connectionNamed('Remote EHR');
    const first = await post(`/api/connections/${c.id}/sync`);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ status: 'queued', created: true });
    const runId = first.body.runId as number;
    expect(first.headers['content-location']).toBe(`/api/connections/${c.id}/syncs/${runId}`);
    const rows = await pg.query('SELECT id, status, trigger FROM exchange_sync_runs WHERE connection_id = $1', [c.id]);
    expect(rows.rows).toEqual([{ id: String(runId), status: 'queued', trigger: 'manual' }]);

    const again = await post(`/api/connections/${c.id}/sync`);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ runId, created: false });
    expect((await pg.query('SELECT count(*) AS n FROM exchange_sync_runs WHERE connection_id = $1', [c.id])).rows[0].n).toBe('1');

    const run = expectStatus(await get(`/api/connections/${c.id}/syncs/${runId}`), 200).body as Json;
    expect(run).toMatchObject({ id: runId, connection: c.id, status: 'queued', trigger: 'manual', started: null });
    const view = expectStatus(await get(`/api/connections/${c.id}`), 200).body as Json;
    expect(view.lastSync).toMatchObject({ id: runId, status: 'queued' });
    expect(view.recentRuns).toHaveLength(1);
    // Another connection's run is not found under this one.
    const other = await connectionNamed('Open EHR');
    expect((await get(`/api/connections/${other.id}/syncs/${runId}`)).status).toBe(404);
    expect((await get(`/api/connections/${c.id}/syncs/abc`)).status).toBe(404);
  });
});

describe('changing and turning off connections', () => {
  it('changes settings and auth (secret encrypted again), the Endpoint following', async () => {
    const c = await connectionNamed('Bearer EHR');
    const newToken = 'second-Bearer-token-0a1b2c';
    const res = expectStatus(
      await patch(`/api/connections/${c.id}`, { name: 'Bearer EHR 2', baseUrl: 'https://bearer2.example.org/r4', auth: { type: 'bearer', token: newToken }, syncIntervalSeconds: 600, resourceTypes: null }),
      200,
    );
    expect(res.body).toMatchObject({ name: 'Bearer EHR 2', baseUrl: 'https://bearer2.example.org/r4', syncIntervalSeconds: 600, resourceTypes: null, auth: { type: 'bearer', secretStored: true } });
    expect(res.text).not.toContain(newToken);
    const { secret, raw } = await decryptedSecret(c.id);
    expect(secret).toBe(newToken);
    expect((raw as Buffer).includes(Buffer.from(newToken))).toBe(false);
    const endpoint = expectStatus(await api.read('Endpoint', c.id), 200).body as Json;
    expect(endpoint).toMatchObject({ name: 'Bearer EHR 2', address: 'https://bearer2.example.org/r4', status: 'active', meta: { versionId: '2' } });

    // From bearer to client credentials, then to none: the secret follows (and is gone with none).
    expectStatus(await patch(`/api/connections/${c.id}`, { auth: remoteAuth() }), 200);
    expect((await decryptedSecret(c.id)).secret).toBe(TEST_CLIENT_SECRET);
    const none = expectStatus(await patch(`/api/connections/${c.id}`, { auth: { type: 'none' } }), 200);
    expect(none.body.auth).toEqual({ type: 'none', secretStored: false });
    expect((await decryptedSecret(c.id)).raw).toBeNull();
    // Nothing changed for the Endpoint: no new version.
    expect((await api.read('Endpoint', c.id)).body.meta.versionId).toBe('2');
  });

  it('refuses a bad change (400) or a taken name (409), changing nothing', async () => {
    const c = await connectionNamed('Bearer EHR 2');
    const bad = await patch(`/api/connections/${c.id}`, { name: 'Renamed', syncIntervalSeconds: 5 });
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].expression).toEqual(['syncIntervalSeconds']);
    const taken = await patch(`/api/connections/${c.id}`, { name: 'Open EHR' });
    expect(taken.status).toBe(409);
    expect((await get(`/api/connections/${c.id}`)).body).toMatchObject({ name: 'Bearer EHR 2', syncIntervalSeconds: 600 });
  });

  it('turns a connection off with PATCH or DELETE (Endpoint off too, history kept); an off connection does not sync', async () => {
    const c = await connectionNamed('Remote EHR');
    const off = expectStatus(await del(`/api/connections/${c.id}`), 200);
    expect(off.body).toMatchObject({ id: c.id, status: 'off' });
    expect(off.body.recentRuns).toHaveLength(1);
    expect((await api.read('Endpoint', c.id)).body.status).toBe('off');
    const sync = await post(`/api/connections/${c.id}/sync`);
    expect(sync.status).toBe(409);
    expect(sync.body.resourceType).toBe('OperationOutcome');

    const on = expectStatus(await patch(`/api/connections/${c.id}`, { status: 'active' }), 200);
    expect(on.body.status).toBe('active');
    expect((await api.read('Endpoint', c.id)).body.status).toBe('active');
    const open = await connectionNamed('Open EHR');
    expectStatus(await patch(`/api/connections/${open.id}`, { status: 'off' }), 200);
    expect((await api.read('Endpoint', open.id)).body.status).toBe('off');
  });

  it('refuses a second active connection to the same base URL (409) on create and on PATCH, storing nothing', async () => {
    // 'Open EHR' (https://open.example.org/fhir) is off now: another connection to its remote may be made.
    const again = await created({ name: 'Open EHR again', baseUrl: 'HTTPS://Open.Example.org:443/fhir/', auth: { type: 'none' } });
    expect(again.baseUrl).toBe('https://open.example.org/fhir');
    const [rows, endpoints] = [await rowCount(), await endpointCount()];

    const second = await post('/api/connections', { name: 'Open EHR third', baseUrl: 'https://open.example.org/fhir', auth: { type: 'none' } });
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'duplicate' }] });
    expect(second.body.issue[0].diagnostics).toMatch(/"Open EHR again" already connects to https:\/\/open.example.org\/fhir/);

    const open = await connectionNamed('Open EHR');
    const on = await patch(`/api/connections/${open.id}`, { status: 'active' });
    expect(on.status).toBe(409);
    const moved = await connectionNamed('Bearer EHR 2');
    const move = await patch(`/api/connections/${moved.id}`, { baseUrl: 'https://open.example.org/fhir/' });
    expect(move.status).toBe(409);

    expect([await rowCount(), await endpointCount()]).toEqual([rows, endpoints]);
    expect((await get(`/api/connections/${open.id}`)).body.status).toBe('off');
    expect((await api.read('Endpoint', open.id)).body.status).toBe('off');
    expect((await get(`/api/connections/${moved.id}`)).body.baseUrl).toBe('https://bearer2.example.org/r4');
    expect((await api.read('Endpoint', moved.id)).body.address).toBe('https://bearer2.example.org/r4');
  });

  it('counts the dead letters of a connection', async () => {
    const c = await connectionNamed('Remote EHR');
    await pg.query(
      "INSERT INTO exchange_push (connection_id, resource_type, resource_id, version_id, status) VALUES ($1, 'RiskAssessment', 'a', 1, 'dead'), ($1, 'RiskAssessment', 'b', 1, 'dead'), ($1, 'RiskAssessment', 'c', 1, 'sent')",
      [c.id],
    );
    expect((await get(`/api/connections/${c.id}`)).body.deadLetters).toBe(2);
  });
});

describe('secrets', () => {
  it('never appear in any response body', () => {
    expect(bodies.length).toBeGreaterThan(30);
    for (const secret of [BEARER_TOKEN, TEST_CLIENT_SECRET, WRONG_SECRET, 'second-Bearer-token-0a1b2c']) {
      expect(bodies.filter((b) => b.includes(secret))).toEqual([]);
    }
  });
});
