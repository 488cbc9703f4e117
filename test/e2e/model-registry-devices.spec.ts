/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { clientToken } from '../helpers/ai-recommendations';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { cadManifest, tinyCadModel } from '../helpers/tiny-onnx';
import { ModelRegistry } from '../../src/ai/model-registry.service';

/**
 * The model registry's Devices are server-owned (issue #7's FHIR view): a registration never takes
 * over an existing Device; clients cannot create, change or delete a registry Device by any FHIR
 * interaction, while the registry's own writes go on; data scientists read and search those Devices
 * (and no other FHIR data); and a candidate or shadow version can be retired.
 */
const CAD = { system: 'http://snomed.info/sct', code: '53741008' };
const CAD_KEY = `${CAD.system}|${CAD.code}`;
const TRIAGE = 'triage-news2-1.0.0';

let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
const tokens = { scientist: '', clinician: '', ehr: '' };
const server = () => t.app.getHttpServer();
const FHIR = 'application/fhir+json';

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config); // seeds the built-in models (the active triage version among them)
  await worker.ctx.get(ModelRegistry).seeded;
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  tokens.scientist = (await clientToken(t, { role: 'data-scientist' })).token;
  const practitioner = await api.created({ resourceType: 'Practitioner', name: [{ family: 'Doe' }] });
  tokens.clinician = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${practitioner.id}` })).token;
  tokens.ehr = (await clientToken(t, { role: 'ehr-system' })).token;
}, 60000);

afterAll(async () => {
  await pg?.end();
  await worker?.close();
  await t?.close();
});

function manifestFor(name: string, version: string): Json {
  return { ...(cadManifest() as Json), model: { file: 'model.onnx' }, name, version, title: `CAD ${name} ${version}`, metrics: { accuracy: 0.8, auc: 0.86 } };
}

function upload(manifest: Json, token = tokens.scientist): request.Test {
  return request(server())
    .post('/api/models')
    .set('Authorization', `Bearer ${token}`)
    .field('manifest', JSON.stringify(manifest))
    .attach('model', tinyCadModel(cadManifest(), { bias: 0.1 }), { filename: 'model.onnx', contentType: 'application/octet-stream' });
}

const lifecycle = (id: string, action: string, token = tokens.scientist) =>
  request(server()).post(`/api/models/${id}/${action}`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('{}');

const fhir = (method: 'get' | 'put' | 'post' | 'delete' | 'patch', path: string, token: string, body?: unknown, contentType = FHIR) => {
  const r = request(server())[method](path).set('Authorization', `Bearer ${token}`).set('Accept', FHIR);
  return body === undefined ? r : r.set('Content-Type', contentType).send(JSON.stringify(body));
};

/** The stored versions of a Device, and the registry's rows: what a refused write must leave alone. */
async function deviceState(id: string): Promise<unknown> {
  const d = await pg.query(`SELECT version_id, deleted, content FROM fhir_resource WHERE resource_type = 'Device' AND id = $1`, [id]);
  const m = await pg.query('SELECT id, status FROM ai_models ORDER BY id');
  const tr = await pg.query('SELECT count(*)::int AS n FROM ai_model_transitions');
  return { device: d.rows, models: m.rows, transitions: tr.rows[0].n };
}

const pump = (id?: string): Json => ({
  resourceType: 'Device',
  ...(id ? { id } : {}),
  status: 'active',
  deviceName: [{ name: 'Infusion pump, bay 3', type: 'user-friendly-name' }],
  type: { coding: [{ system: 'http://snomed.info/sct', code: '469919007', display: 'Infusion pump' }] },
});

describe('registering never takes over an existing Device (#3)', () => {
  it('answers 409 naming the Device, and stores nothing', async () => {
    expectStatus(await fhir('put', '/fhir/Device/probe-cad-5.0.0', t.token, pump('probe-cad-5.0.0')), 201);
    const before = await deviceState('probe-cad-5.0.0');
    const res = await upload(manifestFor('probe-cad', '5.0.0'));
    expect(res.status).toBe(409);
    expect(outcomeText(res.body)).toMatch(/Device\/probe-cad-5\.0\.0 already exists/);
    expect(await deviceState('probe-cad-5.0.0')).toEqual(before);
    const read = expectStatus(await api.read('Device', 'probe-cad-5.0.0'), 200).body as Json;
    expect(read).toMatchObject({ deviceName: [{ name: 'Infusion pump, bay 3' }], meta: { versionId: '1' } });
  });

  it('also when the Device was deleted (its history would become the model\'s)', async () => {
    expectStatus(await fhir('put', '/fhir/Device/probe-cad-5.0.1', t.token, pump('probe-cad-5.0.1')), 201);
    expectStatus(await api.delete('Device', 'probe-cad-5.0.1'), 200);
    const res = await upload(manifestFor('probe-cad', '5.0.1'));
    expect(res.status).toBe(409);
    expect(outcomeText(res.body)).toMatch(/Device\/probe-cad-5\.0\.1 already exists \(deleted/);
    expect((await pg.query(`SELECT 1 FROM ai_models WHERE id = 'probe-cad-5.0.1'`)).rowCount).toBe(0);
  });
});

describe('registry Devices are server-owned (#4)', () => {
  let candidate: string;
  beforeAll(async () => {
    candidate = expectStatus(await upload(manifestFor('guarded-cad', '1.0.0')), 201).body.id;
  });

  it('refuses updates, patches and deletes by any client, also conditional ones and in bundles; nothing changes', async () => {
    const stored = expectStatus(await api.read('Device', candidate), 200).body as Json;
    const forged: Json = { ...stored, status: "active" };
    delete forged.meta;
    const before = await deviceState(candidate);
    const triageBefore = await deviceState(TRIAGE);
    const attempts: Array<[string, () => request.Test]> = [
      ['clinician PUT', () => fhir('put', `/fhir/Device/${candidate}`, tokens.clinician, forged)],
      ['administrator PUT', () => fhir('put', `/fhir/Device/${candidate}`, t.token, forged)],
      ['ehr DELETE', () => fhir('delete', `/fhir/Device/${candidate}`, tokens.ehr)],
      ['ehr DELETE of the active triage version', () => fhir('delete', `/fhir/Device/${TRIAGE}`, tokens.ehr)],
      ['JSON Patch', () => fhir('patch', `/fhir/Device/${candidate}`, tokens.clinician, [{ op: 'replace', path: '/status', value: 'active' }], 'application/json-patch+json')],
      ['conditional update', () => fhir('put', `/fhir/Device?_id=${candidate}`, tokens.ehr, forged)],
      ['conditional delete', () => fhir('delete', `/fhir/Device?_id=${TRIAGE}`, tokens.ehr)],
      ['conditional patch', () => fhir('patch', `/fhir/Device?_id=${candidate}`, tokens.ehr, [{ op: 'replace', path: '/status', value: 'active' }], 'application/json-patch+json')],
      [
        'transaction',
        () =>
          fhir('post', '/fhir', tokens.ehr, {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
              { request: { method: 'DELETE', url: `Device/${TRIAGE}` } },
            ],
          }),
      ],
    ];
    for (const [what, attempt] of attempts) {
      const res = await attempt();
      expect([what, res.status]).toEqual([what, 403]);
      expect(outcomeText(res.body)).toMatch(/managed by \/api\/models/);
    }
    const batch = expectStatus(
      await fhir('post', '/fhir', tokens.ehr, { resourceType: 'Bundle', type: 'batch', entry: [{ resource: forged, request: { method: 'PUT', url: `Device/${candidate}` } }] }),
      200,
    ).body as Json;
    expect(batch.entry[0].response.status).toMatch(/^403/);
    expect(await deviceState(candidate)).toEqual(before);
    expect(await deviceState(TRIAGE)).toEqual(triageBefore);
    expect((await pg.query(`SELECT count(*)::int AS n FROM fhir_resource_history WHERE resource_type = 'Observation'`)).rows[0].n).toBe(0);
  });

  it("refuses a client's Device that claims to be a version at the registry's id for it, but not a look-alike elsewhere", async () => {
    const claim = (id?: string): Json => ({
      resourceType: 'Device',
      ...(id ? { id } : {}),
      status: 'active',
      modelNumber: 'fake-cad',
      version: [{ value: '9.9.9' }],
      type: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: 'diagnosis-confidence' }] },
    });
    const res = await fhir('put', '/fhir/Device/fake-cad-9.9.9', tokens.ehr, claim('fake-cad-9.9.9'));
    expect(res.status).toBe(403);
    expect(outcomeText(res.body)).toMatch(/POST \/api\/models/);
    expect(await deviceState('fake-cad-9.9.9')).toMatchObject({ device: [] });
    // Another server's model Device (an exchange push) gets an id of ours: an ordinary Device.
    expectStatus(await fhir('post', '/fhir/Device', tokens.ehr, claim()), 201);
  });

  it("lets the registry's own writes through: shadow and retire rewrite the Device", async () => {
    expectStatus(await lifecycle(candidate, 'shadow'), 200);
    const device = expectStatus(await api.read('Device', candidate), 200).body as Json;
    expect(device.meta.versionId).toBe('2');
    expect(JSON.stringify(device.property)).toContain('"shadow"');
  });
});

describe('data scientists read and search the registry Devices, and nothing else (#7)', () => {
  it('reads a model Device and finds only registry Devices', async () => {
    const pumpDevice = await api.created(pump());
    const read = await fhir('get', `/fhir/Device/${TRIAGE}`, tokens.scientist);
    expectStatus(read, 200);
    expect(read.body).toMatchObject({ resourceType: 'Device', id: TRIAGE, modelNumber: 'triage-news2', version: [{ value: '1.0.0' }] });

    const registry = (await pg.query('SELECT id FROM ai_models ORDER BY id')).rows.map((r) => r.id);
    const all = expectStatus(await fhir('get', '/fhir/Device?_count=200', tokens.scientist), 200).body as Json;
    expect(((all.entry ?? []) as Json[]).map((e) => e.resource.id).sort()).toEqual(registry);
    const byType = expectStatus(await fhir('get', '/fhir/Device?type=urn:fhir-ai-server:ai-task|triage', tokens.scientist), 200).body as Json;
    expect(((byType.entry ?? []) as Json[]).map((e) => e.resource.id)).toEqual([TRIAGE]);
    const post = expectStatus(await request(server()).post('/fhir/Device/_search').set('Authorization', `Bearer ${tokens.scientist}`).type('form').send({ _id: pumpDevice.id }), 200).body as Json;
    expect(post.entry ?? []).toEqual([]);

    for (const path of [`/fhir/Device/${pumpDevice.id}`, `/fhir/Device/probe-cad-5.0.0`, '/fhir/Patient', '/fhir/RiskAssessment', `/fhir/Device/${TRIAGE}/_history`, '/fhir/Device/_history', '/fhir?_type=Device']) {
      const res = await fhir('get', path, tokens.scientist);
      expect([path, res.status]).toEqual([path, 403]);
    }
    // Nothing about patients comes along: a reverse include of the outputs is refused or left out.
    const rev = await fhir('get', `/fhir/Device?_id=${TRIAGE}&_revinclude=RiskAssessment:performer`, tokens.scientist);
    if (rev.status === 200) expect(((rev.body.entry ?? []) as Json[]).filter((e) => e.resource.resourceType !== 'Device')).toEqual([]);
    else expect(rev.status).toBe(403);
  });

  it('cannot write them either', async () => {
    const res = await fhir('delete', `/fhir/Device/${TRIAGE}`, tokens.scientist);
    expect(res.status).toBe(403);
  });
});

describe('retiring a candidate or a shadow (#8)', () => {
  it('retires a candidate, recorded in its history, its Device inactive', async () => {
    const id = expectStatus(await upload(manifestFor('retire-cad', '1.0.0')), 201).body.id;
    const res = expectStatus(await request(server()).post(`/api/models/${id}/retire`).set('Authorization', `Bearer ${tokens.scientist}`).set('Content-Type', 'application/json').send({ reason: 'superseded before trial' }), 200);
    expect(res.body).toMatchObject({ id, status: 'retired' });
    expect(res.body.history.at(-1)).toMatchObject({ action: 'retire', from: 'candidate', to: 'retired', reason: 'superseded before trial' });
    const device = expectStatus(await api.read('Device', id), 200).body as Json;
    expect(device.status).toBe('inactive');
    expect(JSON.stringify(device.property)).toContain('"retired"');
    // Retired stays retired.
    const again = await lifecycle(id, 'retire');
    expect(again.status).toBe(409);
    expect(outcomeText(again.body)).toMatch(/only a candidate or shadow version can be retired/);
  });

  it('retires a shadow, which running workers stop running within seconds', async () => {
    const id = expectStatus(await upload(manifestFor('retire-shadow-cad', '1.0.0')), 201).body.id;
    expectStatus(await lifecycle(id, 'shadow'), 200);
    const registry = worker.ctx.get(ModelRegistry);
    await waitFor('the shadow in the worker', async () => (await registry.shadows('diagnosis-confidence', CAD_KEY)).some((m) => m.id === id), 8000, 200);
    expectStatus(await lifecycle(id, 'retire', t.token), 200);
    await waitFor('the shadow gone from the worker', async () => !(await registry.shadows('diagnosis-confidence', CAD_KEY)).some((m) => m.id === id), 8000, 200);
    const history = expectStatus(await request(server()).get(`/api/models/${id}`).set('Authorization', `Bearer ${tokens.scientist}`), 200).body.history as Json[];
    expect(history.map((h) => h.action)).toEqual(['register', 'shadow', 'retire']);
  }, 30000);

  it('refuses the active version (a rollback retires it), other roles and unknown versions', async () => {
    const before = await deviceState(TRIAGE);
    const active = await lifecycle(TRIAGE, 'retire');
    expect(active.status).toBe(409);
    expect(outcomeText(active.body)).toMatch(/rollback/);
    expect((await lifecycle(TRIAGE, 'retire', tokens.clinician)).status).toBe(403);
    expect((await lifecycle('no-such-model-1.0.0', 'retire')).status).toBe(404);
    expect(await deviceState(TRIAGE)).toEqual(before);
  });
});
