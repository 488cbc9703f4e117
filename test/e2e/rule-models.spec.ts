import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { patient } from '../helpers/resources';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { RuleRegistry } from '../../src/ai/rules/rule-registry.service';
import { implementedRule, ruleManifest } from '../../src/ai/rules/rule-catalog';
import { DatabaseService } from '../../src/database/database.service';
import { ResourceWriteService } from '../../src/fhir/write/resource-write.service';
import { createLogger } from '../../src/core/logger';
import { forecastMethodOf, forecastOccupancy } from '../../src/hospital/beds/occupancy-forecast';

/**
 * The hospital modules' AI behaviours as rule versions in ai_models (issue #9): seeded at start
 * (kind rule, first version active) with their Devices, listed by GET /api/models, registered
 * only when the code implements them, moved through the same lifecycle as models; every output
 * (a flagged claim, a suggested intervention, a plan's progress, a maintenance forecast, an
 * occupancy forecast) names the active version's Device, and a promotion changes which.
 */
const RULES = ['billing-error-rules-1.0.0', 'holt-winters-additive-weekly-1.0.0', 'stress-intervention-1.0.0', 'usage-hours-linear-1.0.0', 'wellness-progress-1.0.0'];
const HW1 = 'holt-winters-additive-weekly-1.0.0';
const HW11 = 'holt-winters-additive-weekly-1.1.0';
const CHECK = 'https://fhir-ai-server.dev/StructureDefinition/billing-error-check';
const INTERVENTION = 'https://fhir-ai-server.dev/StructureDefinition/intervention-suggested';
const PROGRESS_MODEL = 'https://fhir-ai-server.dev/StructureDefinition/wellness-progress-model';
const PREDICTIVE = 'https://fhir-ai-server.dev/StructureDefinition/predictive-maintenance';
const INTERVAL = 'https://fhir-ai-server.dev/StructureDefinition/maintenance-interval-hours';
const PHYSICAL = 'http://terminology.hl7.org/CodeSystem/location-physical-type';
const DAY = 86_400_000;

let t: TestApp;
let api: FhirApi;
let pg: Client;
let scientist: string;
let clinician: string;

const server = () => t.app.getHttpServer();
const get = (p: string, token = scientist) => request(server()).get(p).set('Authorization', `Bearer ${token}`);
const post = (p: string, body: unknown = {}, token = scientist) =>
  request(server()).post(p).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
const sub = (ext: Json | undefined, url: string) => (ext?.extension as Json[] | undefined)?.find((e) => e.url === url);

async function mint(body: Json): Promise<string> {
  const res = expectStatus(await post('/api/clients', body, t.token), 201);
  return fetchToken(t.app, res.body.client_id, res.body.client_secret);
}

/** What a refused registration must leave unchanged. */
async function registryState(): Promise<unknown> {
  const models = await pg.query('SELECT id, status, kind FROM ai_models ORDER BY id');
  const transitions = await pg.query('SELECT count(*)::int AS n FROM ai_model_transitions');
  const devices = await pg.query(`SELECT id, version_id FROM fhir_resource WHERE resource_type = 'Device' ORDER BY id`);
  return { models: models.rows, transitions: transitions.rows[0].n, devices: devices.rows };
}

beforeAll(async () => {
  t = await startTestApp();
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  scientist = await mint({ role: 'data-scientist' });
  const doctor = await api.created({ resourceType: 'Practitioner', name: [{ family: 'Rule' }] });
  clinician = await mint({ role: 'clinician', practitioner: `Practitioner/${doctor.id}` });
}, 60000);

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

describe('rule versions in the registry', () => {
  it('seeds every rule at start, active, with kind rule, no file, its parameters and the sha256 of its definition', async () => {
    const list = expectStatus(await get('/api/models?kind=rule'), 200).body as Json[];
    expect(list.map((m) => m.id).sort()).toEqual(RULES);
    for (const m of list) {
      expect(m).toMatchObject({ kind: 'rule', status: 'active', file: null, bytes: 0, device: `Device/${m.id}` });
      const def = implementedRule(m.name, m.version)!;
      expect(m.sha256).toBe(ruleManifest(def).definition.sha256);
      expect(m.manifest).toMatchObject({ kind: 'rule', task: def.task, parameters: def.parameters, definition: { sha256: m.sha256 } });
    }
    // the ONNX models are listed beside them with their kind
    const all = expectStatus(await get('/api/models'), 200).body as Json[];
    expect(all.filter((m) => m.kind === 'rule')).toHaveLength(RULES.length);
    expect(all.filter((m) => m.kind !== 'rule').every((m) => m.kind === 'onnx')).toBe(true);
    const byTask = expectStatus(await get('/api/models?task=occupancy-forecast'), 200).body as Json[];
    expect(byTask.map((m) => m.id)).toEqual([HW1]);
    expect(outcomeText(expectStatus(await get('/api/models?kind=zip'), 400).body)).toMatch(/kind must be onnx or rule/);
    expect(outcomeText(expectStatus(await get(`/api/models/${HW1}/model.onnx`), 404).body)).toMatch(/No model version/);

    const device = expectStatus(await api.read('Device', HW1), 200).body;
    expect(device).toMatchObject({
      status: 'active',
      modelNumber: 'holt-winters-additive-weekly',
      version: [{ value: '1.0.0' }],
      identifier: [{ system: 'urn:fhir-ai-server:model-sha256', value: list.find((m) => m.id === HW1)!.sha256 }],
      type: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: 'occupancy-forecast' }], text: 'AI rule (versioned, implemented in code)' },
    });
    expect(device.property).toEqual(expect.arrayContaining([{ type: { text: 'parameter alpha' }, valueQuantity: [{ value: 0.4 }] }]));
  });

  it('refuses a rule version the code does not implement, other parameters, a file, and other roles, storing nothing', async () => {
    const before = await registryState();
    const unknownVersion = expectStatus(await post('/api/models', { kind: 'rule', name: 'holt-winters-additive-weekly', version: '9.9.9' }), 422).body;
    expect(outcomeText(unknownVersion)).toMatch(/implements no rule holt-winters-additive-weekly 9\.9\.9.*1\.0\.0, 1\.1\.0/);
    expect(outcomeText(expectStatus(await post('/api/models', { kind: 'rule', name: 'astrology', version: '1.0.0' }), 422).body)).toMatch(/implements no rule astrology 1\.0\.0/);
    const params = expectStatus(await post('/api/models', { kind: 'rule', name: 'holt-winters-additive-weekly', version: '1.1.0', parameters: { alpha: 0.9 } }), 422).body;
    expect(outcomeText(params)).toMatch(/parameters of holt-winters-additive-weekly 1\.1\.0 are/);
    expect(outcomeText(expectStatus(await post('/api/models', { kind: 'rule', name: 'holt-winters-additive-weekly', version: '1.1.0', task: 'triage' }), 422).body)).toMatch(/serves the task occupancy-forecast/);
    expect(outcomeText(expectStatus(await post('/api/models', { kind: 'rule', name: 'holt-winters-additive-weekly', version: 'one' }), 400).body)).toMatch(/semantic version/);
    const withFile = await request(server())
      .post('/api/models')
      .set('Authorization', `Bearer ${scientist}`)
      .field('manifest', JSON.stringify({ kind: 'rule', name: 'holt-winters-additive-weekly', version: '1.1.0' }))
      .attach('model', Buffer.from('not a model'), 'model.onnx');
    expect(outcomeText(expectStatus(withFile, 400).body)).toMatch(/A rule version has no file/);
    expectStatus(await post('/api/models', { kind: 'rule', name: 'holt-winters-additive-weekly', version: '1.1.0' }, clinician), 403);
    expect(outcomeText(expectStatus(await post('/api/models', { kind: 'rule', name: 'billing-error-rules', version: '1.0.0' }), 409).body)).toMatch(/already registered/);
    expect(await registryState()).toEqual(before);
  });
});

describe('outputs name the active version', () => {
  it('a flagged claim names the billing rules and their Device', async () => {
    const p = (await api.created(patient())).id as string;
    const claim = await api.created({
      resourceType: 'Claim',
      status: 'active',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
      use: 'claim',
      patient: { reference: `Patient/${p}` },
      created: '2026-11-20',
      provider: { display: 'Clinic' },
      priority: { coding: [{ code: 'normal' }] },
      insurance: [{ sequence: 1, focal: true, coverage: { display: 'Self-pay' } }],
      item: [{ sequence: 1, productOrService: { text: 'Consultation' }, servicedDate: '2026-11-20', net: { value: 50 } }],
    });
    const check = (claim.extension as Json[]).find((e) => e.url === CHECK);
    expect(sub(check, 'rules')?.valueString).toBe('billing-error-rules 1.0.0');
    expect(sub(check, 'model')?.valueReference).toEqual({ reference: 'Device/billing-error-rules-1.0.0', display: 'billing-error-rules 1.0.0' });
    const { rows } = await pg.query('SELECT ai_error_detected FROM billing WHERE id = $1', [claim.id]);
    expect(rows).toEqual([{ ai_error_detected: true }]);
  });

  it('a suggested intervention and a wellness plan name their rule versions', async () => {
    const p = (await api.created(patient())).id as string;
    const subject = { reference: `Patient/${p}` };
    const pss = { coding: [{ system: 'http://loinc.org', code: '106860-0' }] };
    const obs = await api.created({ resourceType: 'Observation', status: 'final', code: pss, subject, effectiveDateTime: '2026-11-20T08:00:00Z', valueInteger: 36 });
    const decision = (obs.extension as Json[]).find((e) => e.url === INTERVENTION);
    expect(sub(decision, 'suggested')?.valueBoolean).toBe(true);
    expect(sub(decision, 'rule')?.valueString).toBe('stress-intervention/1');
    expect(sub(decision, 'model')?.valueReference?.reference).toBe('Device/stress-intervention-1.0.0');

    const goal = await api.created({ resourceType: 'Goal', lifecycleStatus: 'completed', description: { text: 'Walk daily' }, subject });
    const plan = await api.created({
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'plan',
      category: [{ coding: [{ system: 'urn:fhir-ai-server:care-plan', code: 'wellness' }] }],
      subject,
      goal: [{ reference: `Goal/${goal.id}` }],
      extension: [{ url: PROGRESS_MODEL, valueReference: { reference: 'Device/forged' } }], // a client's claim: replaced
    });
    const models = (plan.extension as Json[]).filter((e) => e.url === PROGRESS_MODEL);
    expect(models).toEqual([{ url: PROGRESS_MODEL, valueReference: { reference: 'Device/wellness-progress-1.0.0', display: 'wellness-progress 1.0.0' } }]);
  });

  it('a maintenance forecast names the method version', async () => {
    const device = await api.created({
      resourceType: 'Device',
      status: 'active',
      deviceName: [{ name: 'Pump 7', type: 'user-friendly-name' }],
      extension: [{ url: INTERVAL, valueDecimal: 500 }],
    });
    const forecast = (device.extension as Json[]).find((e) => e.url === PREDICTIVE);
    expect(sub(forecast, 'method')?.valueString).toBe('usage-hours-linear|1.0.0');
    expect(sub(forecast, 'model')?.valueReference?.reference).toBe('Device/usage-hours-linear-1.0.0');
  });
});

describe('promoting a second version of a rule', () => {
  let ward: string;
  const today = Math.floor(Date.now() / DAY) * DAY;
  // One bed, three weeks of history: occupied on weekdays 1-3 of each week, with a rise.
  const occupied = (d: number) => d % 7 < 3 || (d >= 14 && d % 7 === 4);

  beforeAll(async () => {
    ward = (await api.created({ resourceType: 'Location', name: 'Rule ward', status: 'active', physicalType: { coding: [{ system: PHYSICAL, code: 'wa' }] } })).id as string;
    const bed = (await api.created({ resourceType: 'Location', name: 'Rule bed', status: 'active', physicalType: { coding: [{ system: PHYSICAL, code: 'bd' }] }, partOf: { reference: `Location/${ward}` } })).id as string;
    const p = (await api.created(patient())).id as string;
    const stays: Json[] = [];
    for (let d = 21; d >= 1; d--) {
      if (!occupied(21 - d)) continue;
      const start = today - d * DAY + 3_600_000;
      stays.push({ location: { reference: `Location/${bed}` }, status: 'completed', period: { start: new Date(start).toISOString(), end: new Date(start + 4 * 3_600_000).toISOString() } });
    }
    await api.created({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
      subject: { reference: `Patient/${p}` },
      location: stays,
      period: { start: stays[0].period.start, end: stays[stays.length - 1].period.end },
    });
  });

  async function forecast(): Promise<{ report: Json; ward: Json; stored: Json }> {
    const report = expectStatus(await get('/api/beds/forecast?days=7', t.token), 200).body;
    const w = report.wards.find((x: Json) => x.ward === `Location/${ward}`);
    const { rows } = await pg.query('SELECT occupancy_prediction FROM beds WHERE ward_id = $1', [ward]);
    return { report, ward: w, stored: rows[0].occupancy_prediction };
  }

  it('registers the implemented 1.1.0 as a candidate; the forecast still names 1.0.0', async () => {
    const res = await request(server())
      .post('/api/models')
      .set('Authorization', `Bearer ${scientist}`)
      .field('manifest', JSON.stringify({ kind: 'rule', name: 'holt-winters-additive-weekly', version: '1.1.0', task: 'occupancy-forecast' }));
    expect(expectStatus(res, 201).body).toMatchObject({ id: HW11, kind: 'rule', status: 'candidate', file: null, history: [{ action: 'register', to: 'candidate' }] });
    expect(res.headers.location).toBe(`/api/models/${HW11}`);
    expect(expectStatus(await api.read('Device', HW11), 200).body.status).toBe('inactive');

    const { report, ward: w, stored } = await forecast();
    expect(report.method).toMatchObject({ name: 'holt-winters-additive-weekly', version: '1.0.0', alpha: 0.4, model: `Device/${HW1}` });
    expect(stored).toMatchObject({ method: 'holt-winters-additive-weekly', method_version: '1.0.0', model: `Device/${HW1}` });
    expect(w.forecast.map((f: Json) => f.occupied)).toEqual(forecastOccupancy(w.history, 7, 1, forecastMethodOf(implementedRule('holt-winters-additive-weekly', '1.0.0')!)).values);
  });

  it('in shadow, 1.1.0 runs beside 1.0.0 on the same forecast, counted but never shown', async () => {
    expect(expectStatus(await post(`/api/models/${HW11}/shadow`), 200).body).toMatchObject({ id: HW11, status: 'shadow' });
    const { report, stored } = await forecast();
    expect(report.method).toMatchObject({ version: '1.0.0', model: `Device/${HW1}` });
    expect(stored).toMatchObject({ method_version: '1.0.0', model: `Device/${HW1}` });
    const { rows } = await pg.query(`SELECT model_id, shadow, output_ref, outputs FROM ai_predictions WHERE job_id = $1 ORDER BY model_id`, [`occupancy-forecast/beds/forecast/${report.generated_at}`]);
    const total = report.total.history as number[];
    expect(rows).toEqual([
      { model_id: HW1, shadow: false, output_ref: null, outputs: { occupied: report.total.forecast.map((f: Json) => f.occupied) } },
      { model_id: HW11, shadow: true, output_ref: null, outputs: { occupied: forecastOccupancy(total, 7, report.total.beds, forecastMethodOf(implementedRule('holt-winters-additive-weekly', '1.1.0')!)).values } },
    ]);
    const stats = expectStatus(await get(`/api/models/${HW11}/stats`), 200).body;
    expect(stats.counts).toMatchObject({ jobs: 1, shadowRuns: 1 });
    expect(stats.agreement.against).toEqual([HW1]);
  });

  it('promoted, the next forecast is made and named by 1.1.0 (its own parameters); rolled back, by 1.0.0 again', async () => {
    const promoted = expectStatus(await post(`/api/models/${HW11}/promote`, { reason: 'noisy wards' }), 200).body; // from shadow
    expect(promoted).toMatchObject({ id: HW11, status: 'active', retired: HW1 });
    expect(expectStatus(await api.read('Device', HW1), 200).body.status).toBe('inactive');
    expect(expectStatus(await api.read('Device', HW11), 200).body.status).toBe('active');

    const after = await forecast();
    expect(after.report.method).toMatchObject({ version: '1.1.0', alpha: 0.2, beta: 0.05, gamma: 0.2, model: `Device/${HW11}` });
    expect(after.stored).toMatchObject({ method_version: '1.1.0', model: `Device/${HW11}` });
    const v11 = forecastOccupancy(after.ward.history, 7, 1, forecastMethodOf(implementedRule('holt-winters-additive-weekly', '1.1.0')!)).values;
    const v10 = forecastOccupancy(after.ward.history, 7, 1, forecastMethodOf(implementedRule('holt-winters-additive-weekly', '1.0.0')!)).values;
    expect(after.ward.method).toBe('holt-winters-additive-weekly');
    expect(after.ward.forecast.map((f: Json) => f.occupied)).toEqual(v11);
    expect(v11).not.toEqual(v10); // the versions really differ on this history

    // Another process starting (seeding the built-ins again) does not undo the promotion.
    const db = t.app.get(DatabaseService);
    await new RuleRegistry(db, t.app.get(ResourceWriteService), createLogger('silent', 'test-rules')).seedBuiltIns();
    expect((await pg.query(`SELECT id, status FROM ai_models WHERE task = 'occupancy-forecast' ORDER BY id`)).rows).toEqual([
      { id: HW1, status: 'retired' },
      { id: HW11, status: 'active' },
    ]);

    expect(expectStatus(await post(`/api/models/${HW11}/rollback`), 200).body).toMatchObject({ status: 'retired', reactivated: HW1 });
    const back = await forecast();
    expect(back.report.method).toMatchObject({ version: '1.0.0', model: `Device/${HW1}` });
    expect(back.stored).toMatchObject({ method_version: '1.0.0', model: `Device/${HW1}` });

    // Each forecast is counted for the version that made it: 1.1.0 one as the active version (and one in shadow).
    const stats11 = expectStatus(await get(`/api/models/${HW11}/stats`), 200).body;
    expect(stats11.counts).toMatchObject({ jobs: 2, predictions: 2, shadowRuns: 1 });
    const listed = expectStatus(await get(`/api/models/${HW11}/predictions`), 200).body;
    expect(listed.items.map((i: Json) => i.shadow)).toEqual([false, true]); // newest first
    expect(listed.items[0]).toMatchObject({ input: 'beds/forecast', output: null });
    expect(expectStatus(await get(`/api/models/${HW1}/stats`), 200).body.counts).toMatchObject({ jobs: 3, shadowRuns: 0 });
  });

  it('the registry serves the active version of a rule with a single version through its lifecycle (registry directly)', async () => {
    const rules = t.app.get(RuleRegistry);
    expect((await rules.active('stress-intervention')).device).toBe('Device/stress-intervention-1.0.0');
    // With no active version (as before seeding), the built-in one serves rather than leaving writes without a rule.
    await pg.query(`UPDATE ai_models SET status = 'retired' WHERE id = 'stress-intervention-1.0.0'`);
    rules.forget();
    expect((await rules.active('stress-intervention')).device).toBe('Device/stress-intervention-1.0.0');
    await pg.query(`UPDATE ai_models SET status = 'active' WHERE id = 'stress-intervention-1.0.0'`);
    rules.forget();
    const stats = expectStatus(await get('/api/models/stress-intervention-1.0.0/stats'), 200).body;
    expect(stats.model).toMatchObject({ id: 'stress-intervention-1.0.0', task: 'stress-intervention', status: 'active' });
    expect(stats.counts.jobs).toBe(1); // the one stress reading written above
    const billing = (await pg.query(`SELECT input_ref, output_ref, label, score FROM ai_predictions WHERE model_id = 'billing-error-rules-1.0.0'`)).rows;
    expect(billing).toEqual([{ input_ref: expect.stringMatching(/^Claim\/[^/]+\/_history\/1$/), output_ref: expect.stringMatching(/^Claim\//), label: 'flagged', score: 1 }]);
  });
});
