/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
import { fhirKitClient, loadFhirKitClient } from '../helpers/fhir-kit';
import { LOINC, patient } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { AiTaskRunner } from '../../src/ai/ai-task.runner';
import { startHookReceiver, type HookReceiver, type ReceivedRequest } from '../helpers/hook-receiver';

/**
 * Monitoring and ICU end to end: readings streamed as NDJSON to POST /api/monitoring/readings are
 * stored through the one write path (bad lines refused alone, with their line's OperationOutcome);
 * the vital-sign anomaly plugin scores each one with the vitals-anomaly ONNX model in the worker
 * (a RiskAssessment with Provenance naming the model's Device); a normal series is not flagged; a
 * dangerous reading and a sudden change are (monitoring_data.anomaly_alert); the ICU one raises an
 * emergency Flag (emergency_alerts 'raised') that a rest-hook Subscription on Flag?patient=...
 * delivers to a small http server standing for the clinician's app.
 */
const AI_JOB = 'urn:fhir-ai-server:ai-job';
const MODEL = 'vitals-anomaly-1.0.0';
const NDJSON = 'application/x-ndjson';

let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
let hook: HookReceiver;
let hookBase: string;
let received: ReceivedRequest[] = [];
let icuPatient: string;
let wearer: string;
let icuEncounter: string;

beforeAll(async () => {
  t = await startTestApp({ SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: 'true', MAX_BODY_BYTES: String(64 * 1024) });
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  hook = await startHookReceiver();
  hookBase = hook.base;
  received = hook.received;

  icuPatient = (await api.created(patient({ family: 'Icu' }))).id;
  wearer = (await api.created(patient({ family: 'Wearer' }))).id;
  const ward = await api.created({
    resourceType: 'Location',
    status: 'active',
    name: 'Intensive care unit',
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'ICU', display: 'Intensive care unit' }] }],
    physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'wa' }] },
  });
  icuEncounter = (
    await api.created({
      resourceType: 'Encounter',
      status: 'in-progress',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
      subject: { reference: `Patient/${icuPatient}` },
      period: { start: '2026-01-01T00:00:00Z' },
      location: [{ location: { reference: `Location/${ward.id}` }, status: 'active' }],
    })
  ).id;
}, 60000);

afterAll(async () => {
  await hook?.close();
  await pg?.end();
  await worker?.close();
  await t?.close();
});

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 12, minute)).toISOString();

function heartRate(patientId: string, value: number, minute: number, extra: Json = {}): Json {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: at(minute),
    valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    ...extra,
  };
}
const icuReading = (value: number, minute: number) => heartRate(icuPatient, value, minute, { device: { display: 'bedside monitor' }, encounter: { reference: `Encounter/${icuEncounter}` } });
const wearableReading = (value: number, minute: number) => heartRate(wearer, value, minute, { device: { display: 'wrist band' } });

function stream(body: string, contentType = NDJSON): request.Test {
  return request(t.app.getHttpServer()).post('/api/monitoring/readings').set('Authorization', `Bearer ${t.token}`).set('Content-Type', contentType).send(body);
}

const ndjson = (lines: Array<Json | string>) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
const idOf = (entry: Json) => /^Observation\/([^/]+)\//.exec(entry.response.location)?.[1] as string;

/** The anomaly RiskAssessment of a reading, once the worker has written it. */
async function assessmentOf(observationId: string): Promise<Json> {
  return waitFor(`the anomaly score of Observation/${observationId}`, async () => {
    const res = expectStatus(await api.search('RiskAssessment', { identifier: `${AI_JOB}|vital-sign-anomaly/Observation/${observationId}/_history/1` }), 200);
    return res.body.entry?.[0]?.resource as Json | undefined;
  }, 30000);
}

async function anomalyAlert(observationId: string): Promise<boolean | undefined> {
  const { rows } = await pg.query('SELECT anomaly_alert FROM monitoring_data WHERE id = $1', [observationId]);
  return rows[0]?.anomaly_alert;
}

let normalIcu: string[] = [];
let normalWearable: string[] = [];

describe('POST /api/monitoring/readings (NDJSON)', () => {
  it('stores each good line through the write path and answers a batch-response with the bad lines\' OperationOutcomes', async () => {
    const sub = await api.created({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'the responsible clinician\'s app: emergency alerts for this ICU patient',
      criteria: `Flag?patient=Patient/${icuPatient}`,
      channel: { type: 'rest-hook', endpoint: `${hookBase}/clinician`, payload: 'application/fhir+json' },
    });
    expect(sub.status).toBe('active');

    const lines = [
      ...[70, 72, 71, 73, 72].map((v, i) => icuReading(v, i)),
      '{"resourceType": "Observation", "status": ',
      ...[68, 70, 69, 71, 70].map((v, i) => wearableReading(v, i)),
      { resourceType: 'Patient', name: [{ family: 'Smuggled' }] },
      '',
      { ...wearableReading(70, 6), status: 'not-a-status' },
    ];
    const res = await stream(ndjson(lines));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'batch-response' });
    const entries = res.body.entry as Json[];
    expect(entries.map((e) => e.response.status.slice(0, 3))).toEqual(['201', '201', '201', '201', '201', '400', '201', '201', '201', '201', '201', '400', '400']);
    expect(res.headers['x-readings-created']).toBe('10');
    expect(res.headers['x-readings-failed']).toBe('3');
    const bad = entries.filter((e) => e.response.outcome).map((e) => e.response.outcome);
    expect(bad.every((o) => o.resourceType === 'OperationOutcome')).toBe(true);
    expect(bad[0].issue[0].diagnostics).toMatch(/^line 6: not JSON/);
    expect(bad[1].issue[0].diagnostics).toMatch(/^line 12: each line must be an Observation, not Patient/);
    expect(bad[2].issue[0].diagnostics).toMatch(/^line 14: /);
    normalIcu = entries.slice(0, 5).map(idOf);
    normalWearable = entries.slice(6, 11).map(idOf);

    // Nothing of the bad lines was stored: the wearer has exactly the five good readings, and no Patient was smuggled in.
    const stored = expectStatus(await api.search('Observation', { subject: `Patient/${wearer}`, _summary: 'count' }), 200);
    expect(stored.body.total).toBe(5);
    expect(expectStatus(await api.search('Patient', { family: 'Smuggled', _summary: 'count' }), 200).body.total).toBe(0);
  });

  it('refuses a body that is not NDJSON (415) or larger than MAX_BODY_BYTES (413) with an OperationOutcome', async () => {
    const wrongType = await stream(JSON.stringify(wearableReading(70, 7)), 'text/plain');
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.resourceType).toBe('OperationOutcome');
    const big = ndjson(Array.from({ length: 200 }, (_, i) => wearableReading(70, 100 + i)));
    expect(big.length).toBeGreaterThan(64 * 1024);
    const tooLarge = await stream(big);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.resourceType).toBe('OperationOutcome');
  });
});

describe('the vital-sign anomaly plugin', () => {
  it('does not flag a normal series: each reading scored "expected" by the model version, anomaly_alert false', async () => {
    for (const id of [...normalIcu, ...normalWearable]) {
      const ra = await assessmentOf(id);
      expect(ra.performer.reference).toBe(`Device/${MODEL}`);
      expect(ra.prediction[0].qualitativeRisk.text).toBe('expected');
      expect(ra.prediction[0].probabilityDecimal).toBeLessThan(0.5);
      expect(await anomalyAlert(id)).toBe(false);
    }
    expect(received.filter((r) => r.url.startsWith('/clinician'))).toEqual([]);
  });

  it('flags a dangerous ICU reading and a sudden change on a wearable: anomaly_alert, score with Provenance -> Device; the ICU one raises an emergency Flag delivered to the clinician', async () => {
    const res = await stream(ndjson([icuReading(150, 10), wearableReading(112, 10)]));
    expect(res.status).toBe(200);
    const [icuId, wearableId] = (res.body.entry as Json[]).map(idOf);

    for (const id of [icuId, wearableId]) {
      const ra = await assessmentOf(id);
      expect(ra.prediction[0].qualitativeRisk.text).toBe('anomalous');
      expect(ra.prediction[0].probabilityDecimal).toBeGreaterThanOrEqual(0.5);
      expect(ra.basis.map((b: Json) => b.reference)).toContain(`Observation/${id}`);
      const prov = expectStatus(await api.search('Provenance', { target: `RiskAssessment/${ra.id}` }), 200).body.entry.map((e: Json) => e.resource);
      expect(prov).toHaveLength(1);
      expect(prov[0].agent[0].who.reference).toBe(`Device/${MODEL}`);
      expect(prov[0].entity.map((e: Json) => e.what.reference)).toContain(`Observation/${id}`);
      await waitFor(`anomaly_alert on ${id}`, async () => (await anomalyAlert(id)) === true, 20000);
      const reading = expectStatus(await api.read('Observation', id), 200).body;
      expect(reading.meta.versionId).toBe('2');
      expect(reading.valueQuantity.value).toBe(id === icuId ? 150 : 112); // the reading itself is unchanged
    }
    // The sudden change is judged against the wearer's own baseline (112 is not dangerous by itself).
    const sudden = await assessmentOf(wearableId);
    expect(sudden.prediction[0].outcome.text).toMatch(/robust SDs from the baseline/);
    expect(sudden.basis.map((b: Json) => b.reference)).toEqual(expect.arrayContaining(normalWearable.map((id) => `Observation/${id}`)));

    const device = expectStatus(await api.read('Device', MODEL), 200).body;
    expect(device.version[0].value).toBe('1.0.0');
    const { rows: models } = await pg.query(`SELECT task, status FROM ai_models WHERE id = $1`, [MODEL]);
    expect(models).toEqual([{ task: 'vital-sign-anomaly', status: 'active' }]);

    // The ICU reading: an emergency Flag for the patient, 'raised' in emergency_alerts, delivered by the rest-hook.
    const [flag] = await waitFor('the emergency Flag', async () => {
      const found = expectStatus(await api.search('Flag', { patient: `Patient/${icuPatient}` }), 200).body.entry?.map((e: Json) => e.resource);
      return found?.length ? found : undefined;
    }, 30000);
    expect(flag.code.coding[0]).toMatchObject({ system: 'urn:fhir-ai-server:alert', code: 'emergency' });
    expect(flag.author.reference).toBe(`Device/${MODEL}`);
    expect(flag.encounter.reference).toBe(`Encounter/${icuEncounter}`);
    const { rows: alerts } = await pg.query('SELECT response_status FROM emergency_alerts WHERE patient_id = $1', [icuPatient]);
    expect(alerts.map((a) => a.response_status)).toEqual(['raised']);
    const [delivered] = await waitFor('the rest-hook delivery to the clinician', async () => {
      const got = received.filter((r) => r.url === `/clinician/Flag/${flag.id}`);
      return got.length ? got : undefined;
    }, 30000);
    expect(delivered.method).toBe('PUT');
    expect(JSON.parse(delivered.body)).toMatchObject({ resourceType: 'Flag', id: flag.id, subject: { reference: `Patient/${icuPatient}` } });

    // The wearable is no ICU: no emergency alert for the wearer.
    expect(expectStatus(await api.search('Flag', { patient: `Patient/${wearer}` }), 200).body.entry ?? []).toEqual([]);

    // A real FHIR client reads the score back.
    await loadFhirKitClient();
    const client = fhirKitClient(t.baseUrl, t.token);
    const read = (await client.read({ resourceType: 'RiskAssessment', id: (await assessmentOf(icuId)).id })) as Json;
    expect(read.performer.reference).toBe(`Device/${MODEL}`);
  });

  it('a flagged reading in an emergency encounter still gets its triage: the verdict written on the reading does not supersede it', async () => {
    const p = (await api.created(patient({ family: 'Emergency' }))).id;
    const er = await api.created({ resourceType: 'Encounter', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' }, subject: { reference: `Patient/${p}` } });
    const res = await stream(ndjson([heartRate(p, 160, 0, { device: { display: 'wrist band' }, encounter: { reference: `Encounter/${er.id}` } })]));
    const id = idOf(res.body.entry[0]);
    expect((await assessmentOf(id)).prediction[0].qualitativeRisk.text).toBe('anomalous');
    await waitFor('the verdict on the reading', async () => (await anomalyAlert(id)) === true, 20000);
    // Version 2 is the AI's verdict: a triage job for version 1, whenever it runs, is not superseded by it.
    const again = await worker.ctx.get(AiTaskRunner).run({ task: 'triage', resourceType: 'Observation', resourceId: id, versionId: 1, patientId: p });
    expect(again.status === 'skipped' ? again.reason : 'written').not.toMatch(/superseded/);
    const triage = await waitFor('the triage of the reading', async () => {
      const found = expectStatus(await api.search('RiskAssessment', { identifier: `${AI_JOB}|triage/Observation/${id}/_history/1` }), 200).body.entry;
      return found?.length ? found : undefined;
    }, 30000);
    expect(triage).toHaveLength(1);
    expect(triage[0].resource.code.coding[0].code).toBe('triage');
  });

  it('flags an ICU vital-signs panel (icu_monitoring) with a dangerous SpO2: the alert in icu_monitoring.alerts and an emergency Flag', async () => {
    const p = (await api.created(patient({ family: 'Panel' }))).id;
    const component = (code: string, value: number, unit: string) => ({ code: { coding: [{ system: LOINC, code }] }, valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit } });
    const panel = (spo2: number, minute: number) => ({
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: LOINC, code: '85353-1', display: 'Vital signs panel' }] },
      subject: { reference: `Patient/${p}` },
      effectiveDateTime: at(minute),
      component: [component('8867-4', 80, '/min'), component('9279-1', 16, '/min'), component('59408-5', spo2, '%'), component('8480-6', 121, 'mm[Hg]'), component('8310-5', 37, 'Cel')],
    });
    const res = await stream(ndjson([panel(97, 0), panel(85, 1)]));
    const [normalId, lowId] = (res.body.entry as Json[]).map(idOf);
    expect((await assessmentOf(normalId)).prediction[0].qualitativeRisk.text).toBe('expected');
    expect((await assessmentOf(lowId)).prediction[0].qualitativeRisk.text).toBe('anomalous');
    const alerts = await waitFor('icu_monitoring.alerts', async () => {
      const { rows } = await pg.query('SELECT id, alerts FROM icu_monitoring WHERE patient_id = $1 AND alerts IS NOT NULL', [p]);
      return rows.length ? rows : undefined;
    }, 20000);
    expect(alerts).toEqual([{ id: lowId, alerts: [expect.objectContaining({ type: 'anomaly', model: `Device/${MODEL}` })] }]);
    const flags = await waitFor('the emergency Flag for the panel', async () => {
      const found = expectStatus(await api.search('Flag', { patient: `Patient/${p}` }), 200).body.entry;
      return found?.length ? found : undefined;
    }, 20000);
    expect(flags).toHaveLength(1);
  });
});

describe('readings as sent', () => {
  it('keeps a decimal as written, and refuses a line that is not UTF-8 alone', async () => {
    const reading = JSON.stringify(wearableReading(70, 900)).replace('"value":70', '"value":70.50');
    const body = Buffer.concat([Buffer.from(`${reading}\n{"resourceType":"Observation","status":"`), Buffer.from([0xff]), Buffer.from('"}\n')]);
    const res = await request(t.app.getHttpServer()).post('/api/monitoring/readings').set('Authorization', `Bearer ${t.token}`).set('Content-Type', NDJSON).send(body);
    expect(res.status).toBe(200);
    const entries = res.body.entry as Json[];
    expect(entries.map((e) => e.response.status.slice(0, 3))).toEqual(['201', '400']);
    expect(entries[1].response.outcome.issue[0].diagnostics).toBe('line 2: not valid UTF-8');
    const stored = await request(t.app.getHttpServer()).get(`/fhir/Observation/${idOf(entries[0])}`).set('Authorization', `Bearer ${t.token}`).buffer(true);
    expect(stored.text).toMatch(/"value": ?70\.50[,}]/);
  });
});
