/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { patient, practitioner } from '../helpers/resources';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, TEST_REDIS_URL, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { AiTaskRunner } from '../../src/ai/ai-task.runner';
import type { AiJob } from '../../src/ai/ai-plugin';
import { modelsDir, type ModelManifest } from '../../src/ai/model-manifest';
import { QUEUES } from '../../src/queue/queues';
import { bullPrefix } from '../../src/queue/redis.provider';
import { DataType, GraphBuilder, encodeModel, floatTensor, valueInfo } from '../../scripts/train-models/onnx';
import { CAD, highRiskCadObservations } from '../helpers/ai-fixtures';
import { createDeidentifier } from '../../src/fhir/bulk/deidentify';
import { deidentificationKey } from '../../src/fhir/bulk/deidentify-key';

/**
 * Per-version statistics and shadow versions end to end: the worker records each version's
 * prediction on a job once (active and shadow, in the output's transaction), shadows write nothing
 * to FHIR, a broken shadow does not fail the job, and the API answers counts, latency, score
 * distribution, drift against the model card and agreement, to data scientists and administrators.
 */
const ACTIVE = 'cad-cleveland-1.0.0';
const SHADOW = 'cad-shadow-2.0.0';
const BROKEN = 'cad-broken-2.0.1';
const SENTIMENT = 'sentiment-uci-1.0.0';
/** The shadow model: logit = 0.02 · age − 1.5, whatever else it is fed (so it disagrees with the active one on the profile below). */
const SHADOW_W = 0.02;
const SHADOW_B = -1.5;

let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
let scientist: string;
let clinician: string;
let patientA: string;
let patientB: string;
let firstCondition: string;

const server = () => t.app.getHttpServer();
const get = (url: string, token?: string) => {
  const r = request(server()).get(url);
  return token ? r.set('Authorization', `Bearer ${token}`) : r;
};

/** A logistic model with the CAD contract (13 float inputs, probability and logit) that reads only age. */
function shadowModel(manifest: ModelManifest): Buffer {
  const g = new GraphBuilder();
  const w = g.constant(floatTensor('w', [1, 1], [SHADOW_W]));
  const b = g.constant(floatTensor('b', [1], [SHADOW_B]));
  const logit = g.op('Add', [g.op('MatMul', ['age', w], 'age_w'), b], 'logit');
  g.op('Sigmoid', [logit], 'probability');
  return Buffer.from(
    encodeModel({
      graphName: 'cad_shadow',
      graph: g,
      inputs: manifest.inputs.map((i) => valueInfo(i.name, DataType.FLOAT, ['N', 1])),
      outputs: [valueInfo('probability', DataType.FLOAT, ['N', 1]), valueInfo('logit', DataType.FLOAT, ['N', 1])],
      docString: 'test shadow model',
      metadata: [],
      producerVersion: 'test',
      modelVersion: 2,
    }),
  );
}

async function registerShadow(id: string, name: string, version: string, bytes: Buffer, base: ModelManifest): Promise<void> {
  const sha = createHash('sha256').update(bytes).digest('hex');
  const manifest = { ...base, name, version, model: { ...base.model, sha256: sha } };
  await pg.query(
    `INSERT INTO ai_models (id, name, version, task, condition_code, sha256, model_file, manifest, status)
     VALUES ($1, $2, $3, 'diagnosis-confidence', $4, $5, $6, $7::jsonb, 'shadow')`,
    [id, name, version, `${CAD.system}|${CAD.code}`, sha, bytes, JSON.stringify(manifest)],
  );
}

async function create(resource: Json): Promise<Json> {
  return expectStatus(await api.create(resource), 201).body as Json;
}



const cadCondition = (patientId: string): Json => ({ resourceType: 'Condition', subject: { reference: `Patient/${patientId}` }, code: { coding: [CAD] } });

async function rows(modelId: string): Promise<Json[]> {
  return (await pg.query('SELECT * FROM ai_predictions WHERE model_id = $1 ORDER BY created_at, job_id', [modelId])).rows;
}

async function count(modelId: string): Promise<number> {
  return Number((await pg.query('SELECT count(*) AS n FROM ai_predictions WHERE model_id = $1', [modelId])).rows[0].n);
}

/** Every resource a search finds, following its next links. */
async function searchAll(type: string, params: Record<string, string>): Promise<Json[]> {
  const res = expectStatus(await api.search(type, { ...params, _count: '200' }), 200);
  expect((res.body.link ?? []).some((l: Json) => l.relation === 'next')).toBe(false);
  return ((res.body.entry ?? []) as Json[]).map((e) => e.resource);
}

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  const mint = async (body: Json) => {
    const res = expectStatus(await request(server()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).send(body), 201);
    return fetchToken(t.app, res.body.client_id, res.body.client_secret);
  };
  scientist = await mint({ role: 'data-scientist' });
  const doctor = await create(practitioner());
  clinician = await mint({ role: 'clinician', practitioner: `Practitioner/${doctor.id}` });

  // Two shadow versions beside the built-in CAD model, registered before any CAD job runs (the
  // registry caches shadows for 5 s): a working one with other weights, and one whose file is garbage.
  const base = JSON.parse(readFileSync(path.join(modelsDir(), 'cad-cleveland', 'manifest.json'), 'utf8')) as ModelManifest;
  await registerShadow(SHADOW, 'cad-shadow', '2.0.0', shadowModel(base), base);
  await registerShadow(BROKEN, 'cad-broken', '2.0.1', randomBytes(512), base);
}, 60000);

afterAll(async () => {
  await pg?.end();
  await worker?.close();
  await t?.close();
});

describe('recording predictions', () => {
  it('records each version once per job, beside the output, however often the job runs; a broken shadow fails nothing', async () => {
    const p = await create(patient({ gender: 'male', birthDate: '1960-01-01' }));
    patientA = p.id;
    await highRiskCadObservations(api, p.id);
    const condition = await create(cadCondition(p.id));
    firstCondition = condition.id;
    const jobId = `diagnosis-confidence/Condition/${condition.id}/_history/1`;
    const ra = await waitFor('the RiskAssessment', async () => {
      const found = await searchAll('RiskAssessment', { identifier: `urn:fhir-ai-server:ai-job|${jobId}` });
      return found[0];
    }, 30000);

    const byModel = async () => Object.fromEntries((await pg.query('SELECT * FROM ai_predictions WHERE job_id = $1', [jobId])).rows.map((r) => [r.model_id, r]));
    const recorded = await byModel();
    expect(Object.keys(recorded).sort()).toEqual([ACTIVE, BROKEN, SHADOW].sort());

    const active = recorded[ACTIVE];
    expect(active).toMatchObject({ shadow: false, output_ref: `RiskAssessment/${ra.id}`, patient_id: p.id, task: 'diagnosis-confidence', input_ref: `Condition/${condition.id}/_history/1`, label: 'positive', error: null });
    expect(active.score).toBeCloseTo(ra.prediction[0].probabilityDecimal, 4);
    expect(active.latency_ms).toBeGreaterThan(0);
    expect(Object.keys(active.inputs)).toHaveLength(13);
    expect(active.inputs.resting_systolic_bp).toEqual({ value: 160, imputed: false });
    expect(active.inputs.st_depression.imputed).toBe(true);

    // The shadow ran on the same data: its score is its own formula on the age the active one was fed.
    const shadow = recorded[SHADOW];
    expect(shadow).toMatchObject({ shadow: true, output_ref: null, error: null, label: 'negative' });
    expect(shadow.inputs.age).toEqual(active.inputs.age);
    expect(shadow.score).toBeCloseTo(1 / (1 + Math.exp(-(SHADOW_W * active.inputs.age.value + SHADOW_B))), 5);
    expect(shadow.latency_ms).toBeGreaterThan(0);

    // The broken shadow is recorded as failed, and the job succeeded all the same.
    expect(recorded[BROKEN]).toMatchObject({ shadow: true, score: null, output_ref: null });
    expect(recorded[BROKEN].error).toBeTruthy();
    const queue = new Queue(QUEUES.aiTasks, { connection: { host: new URL(TEST_REDIS_URL).hostname, port: Number(new URL(TEST_REDIS_URL).port) }, prefix: bullPrefix(t.config.queuePrefix) });
    try {
      expect(await queue.getFailedCount()).toBe(0);
    } finally {
      await queue.close();
    }

    // The job run again (twice, at once) writes and counts nothing more.
    const runner = worker.ctx.get(AiTaskRunner);
    const job: AiJob = { task: 'diagnosis-confidence', resourceType: 'Condition', resourceId: condition.id, versionId: 1, patientId: p.id };
    const again = await Promise.all([runner.run(job), runner.run(job)]);
    expect(again.map((r) => r.status)).toEqual(['skipped', 'skipped']);
    expect(Object.keys(await byModel())).toHaveLength(3);
    expect((await byModel())[ACTIVE].created_at).toEqual(active.created_at);
    expect(await searchAll('RiskAssessment', { identifier: `urn:fhir-ai-server:ai-job|${jobId}` })).toHaveLength(1);
  }, 60000);

  it('keeps shadow versions out of FHIR, out of recommendations and away from clinicians', async () => {
    for (const id of [SHADOW, BROKEN]) {
      expect(await searchAll('RiskAssessment', { performer: `Device/${id}` })).toEqual([]);
      expect(await searchAll('Provenance', { agent: `Device/${id}` })).toEqual([]);
      expect(await searchAll('Task', { requester: `Device/${id}` })).toEqual([]);
    }
    const recs = await searchAll('Task', { code: 'urn:fhir-ai-server:ai-task|recommendation', patient: `Patient/${patientA}` });
    expect(recs.length).toBeGreaterThan(0);
    expect(recs.every((r) => r.requester.reference === `Device/${ACTIVE}`)).toBe(true);
    const { rows: recRows } = await pg.query('SELECT DISTINCT ai_model_id FROM recommendations WHERE patient_id = $1', [patientA]);
    expect(recRows).toEqual([{ ai_model_id: ACTIVE }]);
    const { rows: diag } = await pg.query('SELECT ai_model_id FROM diagnoses WHERE id = $1', [firstCondition]);
    expect(diag).toEqual([{ ai_model_id: ACTIVE }]);
  });
});

describe('statistics per version', () => {
  const MORE = 34;

  beforeAll(async () => {
    // 34 more Conditions for the same patient (same inputs each time) and one for a patient with no data.
    patientB = (await create(patient({ gender: 'female', birthDate: '1980-01-01' }))).id;
    const entries = [...Array.from({ length: MORE }, () => cadCondition(patientA)), cadCondition(patientB)].map((resource) => ({ resource, request: { method: 'POST', url: 'Condition' } }));
    const res = await request(server()).post('/fhir').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/fhir+json').send(JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: entries }));
    expectStatus(res, 200);
    await waitFor('every prediction', async () => (await count(ACTIVE)) === MORE + 2 && (await count(SHADOW)) === MORE + 2 && (await count(BROKEN)) === MORE + 2, 120000, 250);
  }, 150000);

  it('counts predictions, and gives latency, score distribution and classes', async () => {
    const res = expectStatus(await get(`/api/models/${ACTIVE}/stats`, scientist), 200);
    const s = res.body as Json;
    expect(s.model).toMatchObject({ id: ACTIVE, status: 'active', task: 'diagnosis-confidence' });
    expect(s.counts).toMatchObject({ jobs: MORE + 2, predictions: MORE + 1, insufficient: 1, failures: 0, shadowRuns: 0 });
    expect(s.window).toMatchObject({ predictions: MORE + 1, limit: 10000 });
    const { rows: span } = await pg.query('SELECT min(created_at) AS first, max(created_at) AS last FROM ai_predictions WHERE model_id = $1', [ACTIVE]);
    expect([s.counts.first, s.counts.last]).toEqual([new Date(span[0].first).toISOString(), new Date(span[0].last).toISOString()]);
    const latencies = (await rows(ACTIVE)).map((r) => r.latency_ms).filter((v) => v !== null).sort((a, b) => a - b);
    expect(s.latencyMs.n).toBe(MORE + 1);
    expect(s.latencyMs.p50).toBeCloseTo(latencies[17], 2);
    expect(s.latencyMs.p95).toBeGreaterThanOrEqual(s.latencyMs.p50);
    expect(s.latencyMs.max).toBeCloseTo(latencies[latencies.length - 1], 2);

    const scores = (await rows(ACTIVE)).map((r) => r.score).filter((v) => v !== null);
    expect(s.scores).toMatchObject({ output: 'probability', range: [0, 1], n: MORE + 1 });
    expect(s.scores.mean).toBeCloseTo(scores.reduce((a, b) => a + b, 0) / scores.length, 5);
    expect(s.scores.bins).toHaveLength(10);
    expect(s.scores.bins.reduce((a: number, b: Json) => a + b.count, 0)).toBe(MORE + 1);
    expect(s.scores.bins[Math.min(9, Math.floor(scores[0] * 10))].count).toBe(MORE + 1); // one patient, one score
    expect(s.classes).toEqual({ positive: MORE + 1 });
    expect(s.agreement).toBeUndefined();
  });

  it('computes drift of each input against the training distribution in the model card, in plain words', async () => {
    const s = expectStatus(await get(`/api/models/${ACTIVE}/stats`, scientist), 200).body as Json;
    expect(s.drift.method).toMatch(/standardised mean difference.*population stability index/);
    expect(s.drift.inputs).toHaveLength(13);
    const by = Object.fromEntries(s.drift.inputs.map((d: Json) => [d.input, d]));
    // A 66-year-old every time, against a training mean of 54.5 (sd 8.8): significantly older.
    expect(by.age).toMatchObject({ observed: MORE + 1, imputed: 0, level: 'significant', training: { mean: 54.4811, sd: 8.78088 } });
    expect(by.age.smd).toBeGreaterThan(1);
    expect(by.age.psi).toBeGreaterThan(0.25);
    expect(by.age.message).toMatch(/^age: live values higher than in training \(mean 6\d\.\d\d vs 54\.48, SMD \+.*: significant drift/);
    // Never observed: imputed every time, and said so.
    expect(by.st_depression).toMatchObject({ observed: 0, imputed: MORE + 1, imputedShare: 1, level: 'insufficient-data' });
    expect(by.st_depression.message).toMatch(/100% of jobs lacked it/);
    expect(s.drift.summary).toMatch(/Significant drift in \d+ of \d+ inputs \(.*age.*\)/);
  });

  it('gives a shadow version its agreement with the active version on the same jobs', async () => {
    const s = expectStatus(await get(`/api/models/${SHADOW}/stats`, t.token), 200).body as Json;
    expect(s.model).toMatchObject({ id: SHADOW, status: 'shadow' });
    expect(s.counts).toMatchObject({ jobs: MORE + 2, predictions: MORE + 1, insufficient: 1, failures: 0, shadowRuns: MORE + 2 });
    const active = Object.fromEntries((await rows(ACTIVE)).map((r) => [r.job_id, r]));
    const diffs = (await rows(SHADOW)).filter((r) => r.score !== null).map((r) => Math.abs(r.score - active[r.job_id].score));
    expect(s.agreement).toMatchObject({ against: [ACTIVE], pairs: MORE + 1, sameClass: 0, share: 0, onlyOneScored: 0 });
    expect(s.agreement.meanAbsDifference).toBeCloseTo(diffs.reduce((a, b) => a + b, 0) / diffs.length, 5);
    expect(s.agreement.message).toMatch(/in 0 of 35 jobs/);
    expect(s.classes).toEqual({ negative: MORE + 1 });

    const broken = expectStatus(await get(`/api/models/${BROKEN}/stats`, scientist), 200).body as Json;
    expect(broken.counts).toMatchObject({ jobs: MORE + 2, predictions: 0, failures: MORE + 1, insufficient: 1 });
    expect(broken.agreement).toMatchObject({ pairs: 0, share: null });
  });

  it('lists which predictions each version made, newest first, paged, with job, patient, input and output (administrators: real ids)', async () => {
    const seen: Json[] = [];
    let url: string | null = `/api/models/${ACTIVE}/predictions?_count=10`;
    while (url) {
      const body = expectStatus(await get(url, t.token), 200).body as Json;
      expect(body.items.length).toBeLessThanOrEqual(10);
      seen.push(...body.items);
      url = body.next;
    }
    expect(seen).toHaveLength(MORE + 2);
    expect(new Set(seen.map((i) => i.jobId)).size).toBe(MORE + 2);
    const times = seen.map((i) => Date.parse(i.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const stored = Object.fromEntries((await rows(ACTIVE)).map((r) => [r.job_id, r]));
    for (const i of seen) {
      expect(i.input).toMatch(/^Condition\/[^/]+\/_history\/1$/);
      expect(i.output).toBe(stored[i.jobId].output_ref);
      expect(i.output).toMatch(/^RiskAssessment\//);
      expect(i.patient).toBe(`Patient/${stored[i.jobId].patient_id}`);
      expect(i.shadow).toBe(false);
    }
    const forB = expectStatus(await get(`/api/models/${ACTIVE}/predictions?patient=Patient/${patientB}`, t.token), 200).body as Json;
    expect(forB.items).toHaveLength(1);
    expect(forB.items[0]).toMatchObject({ patient: `Patient/${patientB}`, score: null, class: null });
    expect(forB.next).toBeNull();

    const shadowPage = expectStatus(await get(`/api/models/${BROKEN}/predictions?_count=1`, t.token), 200).body as Json;
    expect(shadowPage.items[0]).toMatchObject({ shadow: true, output: null });
    expect(shadowPage.next).toMatch(/cursor=/);
  });

  it("shows data scientists the de-identified export's pseudonyms, never a real id nor the time of writing", async () => {
    const deid = createDeidentifier(deidentificationKey(t.config));
    const stored = await rows(ACTIVE);
    const seen: Json[] = [];
    let url: string | null = `/api/models/${ACTIVE}/predictions?_count=10`;
    let pages = '';
    while (url) {
      const body = expectStatus(await get(url, scientist), 200).body as Json;
      pages += JSON.stringify(body);
      seen.push(...body.items);
      url = body.next;
      if (url) pages += Buffer.from(new URL(url, 'http://x').searchParams.get('cursor') as string, 'base64url').toString('latin1');
    }
    expect(seen).toHaveLength(stored.length);
    // No real id anywhere, cursors included: patients, inputs, outputs, jobs.
    const real = stored.flatMap((r) => [r.patient_id, r.input_ref.split('/')[1], r.output_ref?.split('/')[1]]).filter(Boolean) as string[];
    expect(real.filter((id) => pages.includes(id))).toEqual([]);
    // The same pseudonyms as the export; no createdAt (real or shifted, it would tell the patient's shift).
    const byJob = new Map(stored.map((r) => [`${r.task}/${deid.reference(r.job_id.slice(r.task.length + 1))}/_history/${r.job_id.split('/').pop()}`, r]));
    for (const i of seen) {
      const r = byJob.get(i.jobId) as Json;
      expect(r).toBeDefined();
      expect(i.patient).toBe(`Patient/${deid.pseudonym('Patient', r.patient_id)}`);
      expect(i.input).toBe(deid.reference(r.input_ref));
      expect(i.output).toBe(`RiskAssessment/${deid.pseudonym('RiskAssessment', r.output_ref.split('/')[1])}`);
      expect(i).not.toHaveProperty('createdAt');
      expect(i.inputs).toEqual(r.inputs);
    }
    // Filtering by a patient: by its pseudonym only.
    const pseudonymB = deid.pseudonym('Patient', patientB);
    const forB = expectStatus(await get(`/api/models/${ACTIVE}/predictions?patient=Patient/${pseudonymB}`, scientist), 200).body as Json;
    expect(forB.items.map((i: Json) => i.patient)).toEqual([`Patient/${pseudonymB}`]);
    const byRealId = await get(`/api/models/${ACTIVE}/predictions?patient=Patient/${patientB}`, scientist);
    expect(byRealId.status).toBe(400);
    expect(outcomeText(byRealId.body)).toMatch(/pseudonym/);
    const unknown = expectStatus(await get(`/api/models/${ACTIVE}/predictions?patient=Patient/${'0'.repeat(32)}`, scientist), 200).body as Json;
    expect(unknown.items).toEqual([]);
    // An administrator's cursor is no use to a data scientist (it names real ids), and the other way round.
    const adminNext = (expectStatus(await get(`/api/models/${ACTIVE}/predictions?_count=1`, t.token), 200).body as Json).next as string;
    expect((await get(adminNext, scientist)).status).toBe(400);
  });
});

describe('FHIR searches by model version', () => {
  it('find exactly the outputs each version made (RiskAssessment, Observation, Provenance)', async () => {
    for (const text of ['The staff were wonderful and kind.', 'Awful, rude and slow.']) {
      await create({
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        subject: { reference: `Patient/${patientA}` },
        item: [{ linkId: 'comments', answer: [{ valueString: text }] }],
      });
    }
    await waitFor('the sentiment predictions', async () => (await count(SENTIMENT)) === 2, 30000);

    const outputsOf = async (id: string) => new Set((await rows(id)).map((r) => r.output_ref));
    const cadOutputs = await outputsOf(ACTIVE);
    expect(cadOutputs.size).toBe(36);
    const ras = await searchAll('RiskAssessment', { performer: `Device/${ACTIVE}` });
    expect(new Set(ras.map((r) => `RiskAssessment/${r.id}`))).toEqual(cadOutputs);
    const cadProv = await searchAll('Provenance', { agent: `Device/${ACTIVE}` });
    expect(new Set(cadProv.map((p) => p.target[0].reference))).toEqual(cadOutputs);

    const sentimentOutputs = await outputsOf(SENTIMENT);
    const obs = await searchAll('Observation', { device: `Device/${SENTIMENT}` });
    expect(new Set(obs.map((o) => `Observation/${o.id}`))).toEqual(sentimentOutputs);
    const sentProv = await searchAll('Provenance', { agent: `Device/${SENTIMENT}` });
    expect(new Set(sentProv.map((p) => p.target[0].reference))).toEqual(sentimentOutputs);
    // And nothing of one version under another.
    expect(await searchAll('RiskAssessment', { performer: 'Device/triage-news2-1.0.0' })).toEqual([]);
  }, 60000);
});

describe('access and bad input', () => {
  it('answers only data scientists and administrators', async () => {
    for (const url of [`/api/models/${ACTIVE}/stats`, `/api/models/${ACTIVE}/predictions`]) {
      const refused = await get(url, clinician);
      expect(refused.status).toBe(403);
      expect(outcomeText(refused.body)).toMatch(/data scientists and administrators/);
      expect((await get(url)).status).toBe(401);
      expect((await get(url, t.token)).status).toBe(200);
    }
  });

  it('refuses bad parameters and unknown versions with an OperationOutcome', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['/api/models/no-such-model-1.0.0/stats', 404, /No model version no-such-model-1\.0\.0/],
      ['/api/models/no-such-model-1.0.0/predictions', 404, /No model version/],
      [`/api/models/${ACTIVE}/predictions?_count=0`, 400, /_count must be a whole number from 1 to 1000/],
      [`/api/models/${ACTIVE}/predictions?_count=abc`, 400, /_count/],
      [`/api/models/${ACTIVE}/predictions?cursor=garbage`, 400, /cursor is not one this server gave/],
      [`/api/models/${ACTIVE}/predictions?patient=Observation/1`, 400, /patient is the pseudonym of the Patient/],
      [`/api/models/${ACTIVE}/stats?window=1000000`, 400, /window must be a whole number/],
      [`/api/models/${ACTIVE}/stats?since=yesterday`, 400, /since must be an ISO date/],
    ];
    for (const [url, status, message] of cases) {
      const res = await get(url, scientist);
      expect([url, res.status]).toEqual([url, status]);
      expect(outcomeText(res.body)).toMatch(message);
    }
    const since = expectStatus(await get(`/api/models/${ACTIVE}/stats?since=2999-01-01`, scientist), 200).body as Json;
    expect(since.counts.jobs).toBe(0);
    expect(since.drift.summary).toMatch(/Too few observed values/);
  });
});
