/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { patient } from '../helpers/resources';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { cadManifest, tinyCadModel, type TinyOptions } from '../helpers/tiny-onnx';
import { ModelRegistry } from '../../src/ai/model-registry.service';
import { DatabaseService } from '../../src/database/database.service';
import { createLogger } from '../../src/core/logger';
import { ResourceWriteService } from '../../src/fhir/write/resource-write.service';
import type { ModelManifest } from '../../src/ai/model-manifest';
import { runModels } from '../../scripts/models';
import { onnx } from 'onnx-proto';

/** The model with its weights moved to an "external file" next to the server's working directory. */
function withExternalWeights(bytes: Buffer): Buffer {
  const m = onnx.ModelProto.decode(bytes);
  const w = m.graph!.initializer!.find((i) => i.name === 'w')!;
  w.floatData = [];
  w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  w.externalData = [{ key: 'location', value: 'package.json' }, { key: 'length', value: '52' }];
  return Buffer.from(onnx.ModelProto.encode(m).finish());
}

/**
 * The model registry end to end: a data scientist registers a tiny ONNX model built here (the CAD
 * diagnosis contract, other weights), lists, reads and downloads it, promotes it and sees new
 * predictions carry it in a running worker, rolls back and sees the built-in again; every bad
 * model is refused with a 4xx OperationOutcome and leaves the registry as it was.
 */
const MAX_BYTES = 256 * 1024;
const CAD = { system: 'http://snomed.info/sct', code: '53741008', display: 'Coronary arteriosclerosis' };
const CAD_KEY = `${CAD.system}|${CAD.code}`;
const BUILT_IN = 'cad-cleveland-1.0.0';

let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
const tokens: Record<'scientist' | 'clinician' | 'patient' | 'ehr', string> = { scientist: '', clinician: '', patient: '', ehr: '' };
let scientistClient: { id: string; secret: string };

const server = () => t.app.getHttpServer();

async function newClient(body: Json): Promise<{ id: string; secret: string; token: string }> {
  const res = expectStatus(await request(server()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send(JSON.stringify(body)), 201);
  return { id: res.body.client_id, secret: res.body.client_secret, token: await fetchToken(t.app, res.body.client_id, res.body.client_secret) };
}

beforeAll(async () => {
  t = await startTestApp({ MODEL_MAX_BYTES: String(MAX_BYTES) });
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  const scientist = await newClient({ role: 'data-scientist' });
  scientistClient = scientist;
  tokens.scientist = scientist.token;
  const practitioner = await api.created({ resourceType: 'Practitioner', name: [{ family: 'Doe' }] });
  tokens.clinician = (await newClient({ role: 'clinician', practitioner: `Practitioner/${practitioner.id}` })).token;
  const p = await api.created(patient());
  tokens.patient = (await newClient({ role: 'patient', patient: `Patient/${p.id}` })).token;
  tokens.ehr = (await newClient({ role: 'ehr-system' })).token;
}, 60000);

afterAll(async () => {
  await pg?.end();
  await worker?.close();
  await t?.close();
});

/** A manifest for a test version: the CAD model's inputs and bindings, a new name or version. */
function manifestFor(version: string, over: Partial<ModelManifest> = {}): Json {
  const m = cadManifest() as Json;
  // The file is named; its sha256 the server computes and records.
  return { ...m, model: { file: 'model.onnx' }, name: 'cad-test', version, title: `CAD test model ${version}`, metrics: { accuracy: 0.81, auc: 0.88 }, last_trained: '2026-11-20', federated: false, ...over };
}

function upload(manifest: Json | string | undefined, file: Buffer | undefined, token = tokens.scientist): request.Test {
  let r = request(server()).post('/api/models');
  if (token) r = r.set('Authorization', `Bearer ${token}`);
  if (manifest !== undefined) r = r.field('manifest', typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  if (file) r = r.attach('model', file, { filename: 'model.onnx', contentType: 'application/octet-stream' });
  return r;
}

const get = (p: string, token = tokens.scientist) => request(server()).get(p).set('Authorization', `Bearer ${token}`);
const post = (p: string, body: Json = {}, token = tokens.scientist) => request(server()).post(p).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));

/** What a refused upload must leave unchanged: the versions and their statuses, their history, their Devices. */
async function registryState(): Promise<unknown> {
  const models = await pg.query('SELECT id, status, sha256, previous_active_id FROM ai_models ORDER BY id');
  const transitions = await pg.query('SELECT count(*)::int AS n FROM ai_model_transitions');
  const devices = await pg.query(`SELECT id, version_id FROM fhir_resource WHERE resource_type = 'Device' ORDER BY id`);
  return { models: models.rows, transitions: transitions.rows[0].n, devices: devices.rows };
}

async function activeCadInWorker(): Promise<string | undefined> {
  return (await worker.ctx.get(ModelRegistry).active('diagnosis-confidence', CAD_KEY))?.id;
}

/** A patient with enough CAD inputs, and a Condition coded CAD: the RiskAssessment's performer. */
async function predictionFor(): Promise<{ performer: string; ra: Json; conditionId: string }> {
  const p = await api.created(patient({ gender: 'male', birthDate: '1958-01-01' }));
  const obs = (system: string, code: string, value: Json): Json => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system, code }] }, subject: { reference: `Patient/${p.id}` }, effectiveDateTime: '2026-11-01T10:00:00Z', ...value });
  const cl = 'urn:fhir-ai-server:cleveland';
  for (const o of [
    obs('http://loinc.org', '8480-6', { valueQuantity: { value: 150, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } }),
    obs('http://loinc.org', '2093-3', { valueQuantity: { value: 260, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' } }),
    obs(cl, 'chest-pain-type', { valueInteger: 4 }),
    obs(cl, 'max-heart-rate-exercise', { valueInteger: 120 }),
    obs(cl, 'exercise-induced-angina', { valueInteger: 1 }),
    obs(cl, 'fluoroscopy-major-vessels', { valueInteger: 1 }),
    obs(cl, 'thallium-scan', { valueInteger: 7 }),
    obs(cl, 'st-slope-peak-exercise', { valueInteger: 2 }),
  ]) {
    await api.created(o);
  }
  const condition = await api.created({ resourceType: 'Condition', subject: { reference: `Patient/${p.id}` }, code: { coding: [CAD] } });
  const ra = await waitFor(
    'a RiskAssessment for the Condition',
    async () => {
      const res = expectStatus(await api.search('RiskAssessment', { condition: `Condition/${condition.id}` }), 200);
      return (res.body.entry ?? [])[0]?.resource as Json | undefined;
    },
    30000,
  );
  return { performer: ra.performer.reference, ra, conditionId: condition.id };
}

let registered: Json;
const goodModel = tinyCadModel(cadManifest(), { weights: cadManifest().inputs.map((_, i) => (i % 2 ? 0.02 : -0.01)), bias: 0.3 });

describe('registering a version', () => {
  it('waits for the worker to seed the built-in models', async () => {
    await waitFor('the built-in CAD model, active', async () => (await get(`/api/models/${BUILT_IN}`)).body.status === 'active');
  });

  it('registers a tiny ONNX model as a candidate with its sha256, manifest and Device', async () => {
    const res = expectStatus(await upload(manifestFor('2.0.0'), goodModel), 201);
    registered = res.body;
    expect(res.headers.location).toBe('/api/models/cad-test-2.0.0');
    expect(registered).toMatchObject({
      id: 'cad-test-2.0.0',
      name: 'cad-test',
      version: '2.0.0',
      task: 'diagnosis-confidence',
      condition: CAD_KEY,
      status: 'candidate',
      sha256: createHash('sha256').update(goodModel).digest('hex'),
      bytes: goodModel.length,
      accuracy: 0.81,
      federated: false,
      last_trained: '2026-11-20T00:00:00.000Z',
      device: 'Device/cad-test-2.0.0',
    });
    expect(registered.manifest).toMatchObject({ name: 'cad-test', version: '2.0.0', model: { file: 'model.onnx', sha256: registered.sha256, bytes: goodModel.length } });
    expect(registered.history).toEqual([expect.objectContaining({ action: 'register', from: null, to: 'candidate', by: `client:${scientistClient.id}` })]);

    const { rows } = await pg.query('SELECT status, sha256, model_file FROM ai_models WHERE id = $1', [registered.id]);
    expect(rows[0].status).toBe('candidate');
    expect(Buffer.compare(rows[0].model_file, goodModel)).toBe(0);

    const device = expectStatus(await api.read('Device', 'cad-test-2.0.0'), 200).body;
    expect(device).toMatchObject({ status: 'inactive', modelNumber: 'cad-test', version: [{ value: '2.0.0' }], identifier: [{ system: 'urn:fhir-ai-server:model-sha256', value: registered.sha256 }] });
    expect(device.property[0].valueCode[0].coding[0].code).toBe('candidate');
    expect(device.property).toEqual(expect.arrayContaining([{ type: { text: 'accuracy' }, valueQuantity: [{ value: 0.81 }] }]));
  });

  it('lists, reads and serves the file (bytes equal, sha256 as ETag)', async () => {
    const list = expectStatus(await get('/api/models'), 200).body as Json[];
    expect(list.map((m) => m.id)).toEqual(expect.arrayContaining([BUILT_IN, 'cad-test-2.0.0', 'triage-news2-1.0.0', 'sentiment-uci-1.0.0']));
    expect(list.find((m) => m.id === 'cad-test-2.0.0')).toMatchObject({ status: 'candidate', sha256: registered.sha256, manifest: expect.any(Object), registered_at: expect.any(String) });
    const candidates = expectStatus(await get('/api/models?status=candidate&task=diagnosis-confidence'), 200).body as Json[];
    expect(candidates.map((m) => m.id)).toEqual(['cad-test-2.0.0']);
    expect(outcomeText(expectStatus(await get('/api/models?status=sleeping'), 400).body)).toMatch(/status must be one of/);

    expect(expectStatus(await get('/api/models/cad-test-2.0.0'), 200).body).toMatchObject({ id: 'cad-test-2.0.0', history: expect.any(Array) });
    expect(outcomeText(expectStatus(await get('/api/models/nope-1.0.0'), 404).body)).toMatch(/No model version nope-1.0.0/);

    const file = await get('/api/models/cad-test-2.0.0/model.onnx').buffer(true).parse((res, cb) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expectStatus(file, 200);
    expect(file.headers['content-type']).toMatch(/^application\/octet-stream/);
    expect(file.headers.etag).toBe(`"${registered.sha256}"`);
    expect(file.headers['x-model-sha256']).toBe(registered.sha256);
    expect(Buffer.compare(file.body as Buffer, goodModel)).toBe(0);
  });

  it('lets clinicians and EHR systems read the registry, not download files or register; patients nothing; no token 401', async () => {
    expectStatus(await get('/api/models', tokens.clinician), 200);
    expectStatus(await get('/api/models/cad-test-2.0.0', tokens.ehr), 200);
    expect(outcomeText(expectStatus(await get('/api/models/cad-test-2.0.0/model.onnx', tokens.clinician), 403).body)).toMatch(/data scientists/);
    expectStatus(await get('/api/models', tokens.patient), 403);
    expectStatus(await request(server()).get('/api/models'), 401);
    expectStatus(await post('/api/models/cad-test-2.0.0/promote', {}, tokens.clinician), 403);
  });
});

describe('the checks on every task', () => {
  it.each(['triage-news2', 'sentiment-uci', 'breast-wdbc'])('accept the built-in %s registered again as a new version', async (name) => {
    const dir = path.resolve(__dirname, '../../models', name);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Json;
    const res = expectStatus(await upload({ ...manifest, version: '1.0.1-test' }, readFileSync(path.join(dir, manifest.model.file))), 201);
    expect(res.body).toMatchObject({ id: `${name}-1.0.1-test`, status: 'candidate', sha256: manifest.model.sha256 });
  });

  it('refuses a triage manifest that leaves out an output the plugin reads', async () => {
    // The manifest is checked against the task's contract before the file is opened.
    const manifest = JSON.parse(readFileSync(path.resolve(__dirname, '../../models/triage-news2/manifest.json'), 'utf8')) as Json;
    manifest.outputs = manifest.outputs.filter((o: Json) => o.name !== 'probabilities');
    const res = expectStatus(await upload({ ...manifest, version: '9.0.0' }, goodModel), 400);
    expect(outcomeText(res.body)).toMatch(/a triage model must have the output probabilities \(float32 \[N, 5\]\)/);
  });
});

describe('refusing a bad model stores nothing', () => {
  const m = cadManifest();
  const cases: Array<[string, () => request.Test, number, RegExp]> = [
    ['no token', () => upload(manifestFor('3.0.0'), goodModel, ''), 401, /token/i],
    ['a clinician token', () => upload(manifestFor('3.0.0'), goodModel, tokens.clinician), 403, /Only data scientists/],
    ['an EHR token', () => upload(manifestFor('3.0.0'), goodModel, tokens.ehr), 403, /Only data scientists/],
    ['a patient token', () => upload(manifestFor('3.0.0'), goodModel, tokens.patient), 403, /Only data scientists/],
    ['not multipart', () => post('/api/models', manifestFor('3.0.0')), 415, /multipart\/form-data/],
    ['no file', () => upload(manifestFor('3.0.0'), undefined), 400, /no file field "model"/],
    ['no manifest', () => upload(undefined, goodModel), 400, /no field "manifest"/],
    ['a manifest that is not JSON', () => upload('{"name": ', goodModel), 400, /not valid JSON/],
    ['a version that is not semver', () => upload(manifestFor('3.0'), goodModel), 400, /semantic version/],
    ['an unknown task', () => upload(manifestFor('3.0.0', { task: 'astrology' as never }), goodModel), 400, /task must be one of/],
    ['a diagnosis model naming no condition', () => upload({ ...manifestFor('3.0.0'), condition: undefined }, goodModel), 400, /must name the condition/],
    ['a manifest whose sha256 is another file\'s', () => upload({ ...manifestFor('3.0.0'), model: { file: 'model.onnx', sha256: m.model.sha256 } }, goodModel), 400, /the manifest says/],
    ['a file that is not ONNX', () => upload(manifestFor('3.0.0'), Buffer.from('this is not an ONNX model, just text'.repeat(10))), 422, /not an ONNX model/],
    ['a protobuf onnxruntime cannot open', () => upload(manifestFor('3.0.0'), Buffer.from(onnx.ModelProto.encode({ irVersion: 8 }).finish())), 422, /not an ONNX model onnxruntime can open/],
    ['a model reading a file of the server (external data)', () => upload(manifestFor('3.0.0'), withExternalWeights(goodModel)), 422, /external files \(w\)/],
    ['a wrong input name', () => upload(manifestFor('3.0.0'), tinyCadModel(m, { renameInput: ['age', 'age_years'] })), 422, /the ONNX graph has no input age \(its inputs: age_years/],
    ['a wrong input type', () => upload(manifestFor('3.0.0'), tinyCadModel(m, { doubleInput: 'sex' })), 422, /input sex is float64, the manifest says float32/],
    ['a wrong input shape', () => upload(manifestFor('3.0.0'), tinyCadModel(m, { fixedBatchInput: 'thal' })), 422, /input thal has shape \[1, 1\], the manifest says \[N, 1\]/],
    ['a wrong output', () => upload(manifestFor('3.0.0'), tinyCadModel(m, { probabilityName: 'risk' })), 422, /no output probability \(its outputs: risk, logit\)/],
    ['probabilities out of range', () => upload(manifestFor('3.0.0'), tinyCadModel(m, { noSigmoid: true, bias: 4 })), 422, /smoke run: on the training means, output probability = [\d.]+ is outside \[0, 1\]/],
    ['a graph that does not impute missing inputs', () => upload(manifestFor('3.0.0'), tinyCadModel(m, { noImputation: true })), 422, /every input missing \(NaN\), output probability is not a finite number/],
    ['a file over MODEL_MAX_BYTES', () => upload(manifestFor('3.0.0'), Buffer.alloc(MAX_BYTES + 1, 7)), 413, /MODEL_MAX_BYTES/],
    ['a version registered already', () => upload(manifestFor('2.0.0'), tinyCadModel(m, { bias: 1 })), 409, /cad-test 2\.0\.0 is already registered/],
    ['the same version under a name differing only in case', () => upload({ ...manifestFor('2.0.0'), name: 'CAD-Test' }, tinyCadModel(m, { bias: 1 })), 409, /CAD-Test 2\.0\.0 is already registered/],
    ['a manifest without held-out metrics', () => upload({ ...manifestFor('3.0.0'), metrics: undefined }, goodModel), 400, /metrics must give the held-out measures/],
  ];

  it.each(cases)('%s', async (_name, send, status, message) => {
    const before = await registryState();
    const res = await send();
    expectStatus(res, status);
    expect(outcomeText(res.body)).toMatch(message);
    expect(await registryState()).toEqual(before);
  });

  it('names every manifest problem at once, each with its path', async () => {
    const bad = manifestFor('3.0.0');
    bad.inputs[0].tensor.elementType = 'int8';
    bad.threshold = { output: 'nope', value: 0.5 };
    const res = expectStatus(await upload(bad, goodModel), 400);
    expect(res.body.issue.map((i: Json) => i.expression?.[0])).toEqual(['manifest.inputs[0].tensor.elementType', 'manifest.threshold.output']);
  });
});

describe('lifecycle', () => {
  it('goes candidate → shadow → active, retiring the built-in, and records who and when', async () => {
    const shadow = expectStatus(await post('/api/models/cad-test-2.0.0/shadow', { reason: 'compare on live data' }), 200).body;
    expect(shadow.status).toBe('shadow');
    expect(outcomeText(expectStatus(await post('/api/models/cad-test-2.0.0/shadow'), 409).body)).toMatch(/cad-test-2.0.0 is shadow: only a candidate/);

    const promoted = expectStatus(await post('/api/models/cad-test-2.0.0/promote', { reason: 'better AUC' }), 200).body;
    expect(promoted).toMatchObject({ status: 'active', retired: BUILT_IN, previous_active: BUILT_IN });
    expect(promoted.history.map((h: Json) => [h.action, h.from, h.to, h.by, h.reason ?? null])).toEqual([
      ['register', null, 'candidate', `client:${scientistClient.id}`, null],
      ['shadow', 'candidate', 'shadow', `client:${scientistClient.id}`, 'compare on live data'],
      ['promote', 'shadow', 'active', `client:${scientistClient.id}`, 'better AUC'],
    ]);
    const builtIn = expectStatus(await get(`/api/models/${BUILT_IN}`), 200).body;
    expect(builtIn.status).toBe('retired');
    expect(builtIn.history.at(-1)).toMatchObject({ action: 'promote', from: 'active', to: 'retired', other: 'cad-test-2.0.0' });

    // The FHIR view follows: Device.status and the lifecycle property; searchable by status.
    expect(expectStatus(await api.read('Device', 'cad-test-2.0.0'), 200).body).toMatchObject({ status: 'active', property: expect.arrayContaining([expect.objectContaining({ valueCode: [expect.objectContaining({ text: 'active' })] })]) });
    expect(expectStatus(await api.read('Device', BUILT_IN), 200).body.status).toBe('inactive');
    const active = expectStatus(await api.search('Device', { status: 'active', type: 'urn:fhir-ai-server:ai-task|diagnosis-confidence' }), 200).body;
    expect(active.entry.map((e: Json) => e.resource.id).sort()).toEqual(['breast-wdbc-1.0.0', 'cad-test-2.0.0']);
  });

  it('refuses illegal transitions with 409', async () => {
    expect(outcomeText(expectStatus(await post('/api/models/cad-test-2.0.0/promote'), 409).body)).toMatch(/already the active version/);
    expect(outcomeText(expectStatus(await post(`/api/models/${BUILT_IN}/promote`), 409).body)).toMatch(/is retired/);
    expect(outcomeText(expectStatus(await post(`/api/models/${BUILT_IN}/rollback`), 409).body)).toMatch(/only the active version can be rolled back/);
    expect(outcomeText(expectStatus(await post('/api/models/cad-test-2.0.0/shadow'), 409).body)).toMatch(/is active: only a candidate/);
    expectStatus(await post('/api/models/nope-1.0.0/promote'), 404);
    expectStatus(await post('/api/models/cad-test-2.0.0/promote', { reason: 42 } as Json), 400);
  });

  it('new predictions carry the promoted version within seconds, without a restart', async () => {
    const started = Date.now();
    await waitFor('the worker to see the promotion', async () => (await activeCadInWorker()) === 'cad-test-2.0.0', 10000, 100);
    const seenAfterMs = Date.now() - started;
    expect(seenAfterMs).toBeLessThan(6000); // the registry's cache lives 5 s
    if (process.env.REGISTRY_TIMING) process.stdout.write(`promotion seen by the worker after ${seenAfterMs} ms\n`);
    const { performer, ra, conditionId } = await predictionFor();
    expect(performer).toBe('Device/cad-test-2.0.0');
    const prov = expectStatus(await api.search('Provenance', { target: `RiskAssessment/${ra.id}` }), 200).body.entry.map((e: Json) => e.resource);
    expect(prov[0].agent[0].who).toEqual({ reference: 'Device/cad-test-2.0.0', display: 'cad-test 2.0.0' });
    const condition = await waitFor('the Condition scored', async () => {
      const c = (await api.read('Condition', conditionId)).body as Json;
      return c.extension?.length ? c : undefined;
    });
    expect(condition.extension).toEqual(expect.arrayContaining([{ url: expect.stringMatching(/ai-model$/), valueReference: { reference: 'Device/cad-test-2.0.0' } }]));
  }, 60000);

  it('another worker starting (seeding the built-ins again) does not undo the promotion', async () => {
    // A registry of its own, as in a second worker process (the running worker's cache is left alone).
    await new ModelRegistry(worker.ctx.get(DatabaseService), worker.ctx.get(ResourceWriteService), createLogger('silent', 'test-registry')).seedBuiltIns();
    const { rows } = await pg.query(`SELECT id, status FROM ai_models WHERE condition_code = $1 ORDER BY id`, [CAD_KEY]);
    expect(rows).toEqual([
      { id: BUILT_IN, status: 'retired' },
      { id: 'cad-test-2.0.0', status: 'active' },
    ]);
    expect(expectStatus(await api.read('Device', BUILT_IN), 200).body.status).toBe('inactive');
  });

  it('does not seed a built-in over a Device a client stored at its id', async () => {
    const clientDevice = expectStatus(await api.update({ resourceType: 'Device', id: 'cad-newbuiltin-1.0.0', status: 'active', deviceName: [{ name: 'Infusion pump 7', type: 'user-friendly-name' }] }), 201).body as Json;
    const manifest = { ...(cadManifest() as ModelManifest), name: 'cad-newbuiltin', version: '1.0.0' };
    const bytes = tinyCadModel(cadManifest(), { bias: 0.1 });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const registry = new ModelRegistry(worker.ctx.get(DatabaseService), worker.ctx.get(ResourceWriteService), createLogger('silent', 'test-registry'));
    await registry.seedBuiltIns([{ manifest: { ...manifest, model: { file: 'model.onnx', sha256 } }, bytes, sha256 }]);
    expect((await pg.query(`SELECT id FROM ai_models WHERE id = 'cad-newbuiltin-1.0.0'`)).rows).toEqual([]);
    const device = expectStatus(await api.read('Device', 'cad-newbuiltin-1.0.0'), 200).body as Json;
    expect(device.meta.versionId).toBe(clientDevice.meta.versionId);
    expect(device.deviceName).toEqual([{ name: 'Infusion pump 7', type: 'user-friendly-name' }]);
  });

  it('rolls back to the version that was active before, and the next prediction carries it', async () => {
    const res = expectStatus(await post('/api/models/cad-test-2.0.0/rollback', { reason: 'drift on live data' }), 200).body;
    expect(res).toMatchObject({ id: 'cad-test-2.0.0', status: 'retired', reactivated: BUILT_IN });
    expect(res.history.at(-1)).toMatchObject({ action: 'rollback', from: 'active', to: 'retired', other: BUILT_IN, reason: 'drift on live data' });
    expect((await get(`/api/models/${BUILT_IN}`)).body).toMatchObject({ status: 'active' });
    expect(expectStatus(await api.read('Device', BUILT_IN), 200).body.status).toBe('active');
    expect(expectStatus(await api.read('Device', 'cad-test-2.0.0'), 200).body.status).toBe('inactive');

    const started = Date.now();
    await waitFor('the worker to see the rollback', async () => (await activeCadInWorker()) === BUILT_IN, 10000, 100);
    expect(Date.now() - started).toBeLessThan(6000);
    if (process.env.REGISTRY_TIMING) process.stdout.write(`rollback seen by the worker after ${Date.now() - started} ms\n`);
    expect((await predictionFor()).performer).toBe(`Device/${BUILT_IN}`);

    // Nothing was active before the built-in: nothing to roll back to.
    expect(outcomeText(expectStatus(await post(`/api/models/${BUILT_IN}/rollback`), 409).body)).toMatch(/No version was active before cad-cleveland-1.0.0/);
  }, 60000);

  it('keeps one active version when two promotions race', async () => {
    for (const v of ['2.1.0', '2.2.0']) expectStatus(await upload(manifestFor(v), tinyCadModel(cadManifest(), { bias: Number(v.slice(2)) })), 201);
    const results = await Promise.all(['cad-test-2.1.0', 'cad-test-2.2.0'].map((id) => post(`/api/models/${id}/promote`)));
    expect(results.map((r) => r.status)).toEqual([200, 200]); // serialised: the second retires the first
    const { rows } = await pg.query(`SELECT id, previous_active_id FROM ai_models WHERE status = 'active' AND condition_code = $1`, [CAD_KEY]);
    expect(rows).toHaveLength(1);
    const other = rows[0].id === 'cad-test-2.1.0' ? 'cad-test-2.2.0' : 'cad-test-2.1.0';
    expect(rows[0].previous_active_id).toBe(other);
    expect((await get(`/api/models/${other}`)).body.status).toBe('retired');
    // Two rollbacks walk back to the built-in.
    expectStatus(await post(`/api/models/${rows[0].id}/rollback`), 200);
    expect(expectStatus(await post(`/api/models/${other}/rollback`), 200).body.reactivated).toBe(BUILT_IN);
  });
});

describe('npm run models', () => {
  it('registers a folder, lists, promotes and rolls back against the running server', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'models-cli-'));
    try {
      const manifest = manifestFor('4.0.0', { model: { file: 'cad-test.onnx' } as never });
      const file = tinyCadModel(cadManifest(), { bias: -0.5 });
      writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
      writeFileSync(path.join(dir, 'cad-test.onnx'), file);
      const env = { FHIR_SERVER: `${t.baseUrl}/fhir`, CLIENT_ID: scientistClient.id, CLIENT_SECRET: scientistClient.secret };
      const run = async (...argv: string[]) => {
        let out = '';
        let err = '';
        const code = await runModels(argv, env, (s) => (out += s), (s) => (err += s));
        return { code, out, err };
      };

      const reg = await run('register', dir);
      expect(reg).toMatchObject({ code: 0, err: '' });
      expect(reg.out).toMatch(/^cad-test-4\.0\.0 {2}diagnosis-confidence \(http:\/\/snomed\.info\/sct\|53741008\) {2}candidate {2}sha256 [0-9a-f]{12}/);
      const { rows } = await pg.query('SELECT sha256 FROM ai_models WHERE id = $1', ['cad-test-4.0.0']);
      expect(rows[0].sha256).toBe(createHash('sha256').update(file).digest('hex'));

      const again = await run('register', dir);
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/HTTP 409[\s\S]*already registered/);

      expect((await run('list', '--status', 'candidate')).out).toMatch(/cad-test-4\.0\.0/);
      const promoted = await run('promote', 'cad-test-4.0.0', '--reason', 'from the CLI');
      expect(promoted).toMatchObject({ code: 0 });
      expect(promoted.out).toMatch(/active[\s\S]*retired: cad-cleveland-1\.0\.0/);
      const back = await run('rollback', 'cad-test-4.0.0', '--json');
      expect(JSON.parse(back.out)).toMatchObject({ status: 'retired', reactivated: BUILT_IN });
      expect((await run('register', path.join(dir, 'nowhere'))).code).toBe(2);
      expect((await run('frobnicate')).code).toBe(2);

      // A rule version: a manifest and no file (its implementation is the server's code).
      const ruleDir = path.join(dir, 'rule');
      mkdirSync(ruleDir);
      writeFileSync(path.join(ruleDir, 'manifest.json'), JSON.stringify({ kind: 'rule', name: 'holt-winters-additive-weekly', version: '1.1.0' }));
      const rule = await run('register', ruleDir);
      expect(rule).toMatchObject({ code: 0, err: '' });
      expect(rule.out).toMatch(/^holt-winters-additive-weekly-1\.1\.0 {2}occupancy-forecast {2}candidate/);
      const rules = await run('list', '--kind', 'rule');
      expect(rules.out).toMatch(/holt-winters-additive-weekly-1\.1\.0/);
      expect(rules.out).not.toMatch(/cad-test/);
      writeFileSync(path.join(ruleDir, 'manifest.json'), JSON.stringify({ kind: 'rule', name: 'holt-winters-additive-weekly', version: '7.0.0' }));
      const unknown = await run('register', ruleDir);
      expect(unknown.code).toBe(1);
      expect(unknown.err).toMatch(/HTTP 422/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
