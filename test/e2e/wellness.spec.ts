import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
import { fhirKitClient, loadFhirKitClient } from '../helpers/fhir-kit';
import { patient } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';

/**
 * Mental health and wellness end to end: stress readings annotated by the stress-intervention rule
 * on the write path (high score, rising trend, and their edges) and projected onto
 * stress_data.intervention_suggested; wellness CarePlans projected onto wellness_plans with their
 * progress recomputed when a Goal or a measured Observation changes, checked against numbers worked
 * out here from the documented formula.
 */
const LOINC = 'http://loinc.org';
const INTERVENTION_URL = 'https://fhir-ai-server.dev/StructureDefinition/intervention-suggested';
const PROGRESS_URL = 'https://fhir-ai-server.dev/StructureDefinition/wellness-progress';
const PSS10 = { system: LOINC, code: '106860-0', display: 'Perceived stress scale-10 total score [PSS-10]' };
const DEVICE_STRESS = { system: 'http://snomed.info/sct', code: '73595000', display: 'Stress (finding)' };
const achievement = (code: string) => ({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/goal-achievement', code }] });

let t: TestApp;
let api: FhirApi;
let pg: Client;

beforeAll(async () => {
  t = await startTestApp();
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
}, 60000);

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

function pss(patientId: string, value: number, at: string, o: Json = {}): Json {
  return { resourceType: 'Observation', status: 'final', code: { coding: [PSS10] }, subject: { reference: `Patient/${patientId}` }, effectiveDateTime: at, valueInteger: value, ...o };
}

function deviceStress(patientId: string, value: number, at: string): Json {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [DEVICE_STRESS] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: at,
    device: { display: 'Wrist wearable' },
    valueQuantity: { value, unit: '%' },
  };
}

async function suggested(id: string): Promise<boolean | null> {
  const { rows } = await pg.query('SELECT intervention_suggested FROM stress_data WHERE id = $1', [id]);
  expect(rows).toHaveLength(1);
  return rows[0].intervention_suggested as boolean;
}

const ruleOf = (obs: Json) => (obs.extension as Json[] | undefined)?.find((e) => e.url === INTERVENTION_URL);

describe('stress readings and the intervention rule (stress-intervention/1)', () => {
  it('suggests an intervention at a high score (PSS-10 ≥ 30), not just below, through FHIR REST and fhir-kit-client', async () => {
    const p = (await api.created(patient())).id as string;
    const high = await api.created(pss(p, 30, '2026-11-01T08:00:00Z'));
    expect(ruleOf(high)?.extension).toEqual(expect.arrayContaining([{ url: 'suggested', valueBoolean: true }, { url: 'rule', valueString: 'stress-intervention/1' }]));
    // ... and the rule version's Device in the registry (ai_models)
    expect(ruleOf(high)?.extension).toEqual(expect.arrayContaining([{ url: 'model', valueReference: { reference: 'Device/stress-intervention-1.0.0', display: 'stress-intervention 1.0.0' } }]));
    expect(await suggested(high.id)).toBe(true);

    await loadFhirKitClient();
    const client = fhirKitClient(t.baseUrl, t.token);
    const low = (await client.create({ resourceType: 'Observation', body: pss(p, 29, '2026-11-02T08:00:00Z') as { resourceType: 'Observation' } })) as Json;
    expect(ruleOf(low)?.extension).toEqual(expect.arrayContaining([{ url: 'suggested', valueBoolean: false }]));
    expect(await suggested(low.id)).toBe(false);
  });

  it('suggests on a strict rise of ≥ 0.2 over the last 3 readings, not on 0.19, and a client cannot set it', async () => {
    const a = (await api.created(patient())).id as string;
    const s1 = await api.created(deviceStress(a, 40, '2026-11-01T08:00:00Z'));
    const s2 = await api.created(deviceStress(a, 50, '2026-11-01T09:00:00Z'));
    const s3 = await api.created(deviceStress(a, 60, '2026-11-01T10:00:00Z'));
    expect([await suggested(s1.id), await suggested(s2.id), await suggested(s3.id)]).toEqual([false, false, true]);
    expect(ruleOf(s3)?.extension).toEqual(expect.arrayContaining([{ url: 'reason', valueString: 'rising stress over 3 readings: 0.4 → 0.5 → 0.6' }]));

    const b = (await api.created(patient())).id as string;
    await api.created(deviceStress(b, 40, '2026-11-01T08:00:00Z'));
    await api.created(deviceStress(b, 50, '2026-11-01T09:00:00Z'));
    const flat = await api.created(deviceStress(b, 59, '2026-11-01T10:00:00Z'));
    expect(await suggested(flat.id)).toBe(false);

    // A reading recorded late is judged on the readings taken before it: 0.4 → 0.5 → 0.61 rises
    // by 0.21 (judged on the latest ones, 0.5 → 0.59 → 0.61, it would not).
    const late = await api.created(deviceStress(b, 61, '2026-11-01T09:30:00Z'));
    expect(await suggested(late.id)).toBe(true);

    // A client's own claim is recomputed.
    const claimed = { ...deviceStress(b, 10, '2026-11-01T11:00:00Z'), extension: [{ url: INTERVENTION_URL, extension: [{ url: 'suggested', valueBoolean: true }] }] };
    const stored = await api.created(claimed);
    expect(await suggested(stored.id)).toBe(false);
    expect(ruleOf(stored)?.extension).toEqual(expect.arrayContaining([{ url: 'suggested', valueBoolean: false }]));
  });

  it('says a reading it cannot score was not scored (unknown in stress_data), never "not suggested"', async () => {
    const p = (await api.created(patient())).id as string;
    const beats = await api.created({ ...deviceStress(p, 72, '2026-11-02T08:00:00Z'), valueQuantity: { value: 72, unit: '/min' } });
    expect(await suggested(beats.id)).toBeNull();
    const ext = ruleOf(beats)?.extension as Json[];
    expect(ext.find((e) => e.url === 'suggested')).toBeUndefined();
    expect(ext.find((e) => e.url === 'reason')?.valueString).toBe('not scored: 72 /min is not a device score of 0..100 (unit %, {score} or none)');
    const pss = await api.created({ ...deviceStress(p, 55, '2026-11-02T09:00:00Z'), code: { coding: [PSS10] }, valueQuantity: undefined, valueInteger: 55 });
    expect(await suggested(pss.id)).toBeNull();
    // A scored reading afterwards is decided as usual.
    expect(await suggested((await api.created(deviceStress(p, 80, '2026-11-02T10:00:00Z'))).id)).toBe(true);
  });

  it('leaves other observations alone', async () => {
    const p = (await api.created(patient())).id as string;
    const hr = await api.created({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code: '8867-4' }] }, subject: { reference: `Patient/${p}` }, valueQuantity: { value: 190, unit: '/min' } });
    expect(ruleOf(hr)).toBeUndefined();
  });
});

describe('wellness plans and their progress', () => {
  async function progressRow(id: string): Promise<Json | undefined> {
    const { rows } = await pg.query('SELECT patient_id, plan_details, ai_generated, progress FROM wellness_plans WHERE id = $1', [id]);
    return rows[0];
  }
  async function planProgress(id: string): Promise<number | undefined> {
    const plan = expectStatus(await api.read('CarePlan', id), 200).body as Json;
    return (plan.extension as Json[] | undefined)?.find((e) => e.url === PROGRESS_URL)?.valueDecimal;
  }

  it('computes progress from goals and refreshes it when a measured Observation or a Goal changes', async () => {
    const p = (await api.created(patient())).id as string;
    const subject = { reference: `Patient/${p}` };
    // Goal 1: PSS-10 ≤ 13, measured; goal 2: judged by its achievement status; goal 3: cancelled.
    const g1 = await api.created({ resourceType: 'Goal', lifecycleStatus: 'active', description: { text: 'Lower perceived stress' }, subject, startDate: '2026-10-01', target: [{ measure: { coding: [PSS10] }, detailQuantity: { value: 13, comparator: '<=' } }] });
    const g2 = await api.created({ resourceType: 'Goal', lifecycleStatus: 'active', achievementStatus: achievement('improving'), description: { text: 'Sleep 7 hours' }, subject });
    const g3 = await api.created({ resourceType: 'Goal', lifecycleStatus: 'cancelled', achievementStatus: achievement('achieved'), description: { text: 'Dropped' }, subject });
    await api.created(pss(p, 35, '2026-09-01T08:00:00Z')); // before the goal's start: not the baseline
    await api.created(pss(p, 29, '2026-10-02T08:00:00Z')); // baseline: 16 above the target

    const plan = await api.created({
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'plan',
      category: [{ coding: [{ system: 'urn:fhir-ai-server:care-plan', code: 'wellness' }] }],
      title: 'Stress reduction',
      description: 'Breathing exercises, sleep hygiene',
      subject,
      author: { reference: `Patient/${p}` },
      goal: [g1, g2, g3].map((g) => ({ reference: `Goal/${g.id as string}` })),
      extension: [{ url: PROGRESS_URL, valueDecimal: 0.99 }], // a client's claim: recomputed
    });
    // g1: latest = baseline → 0; g2 improving → 0.5; g3 not counted → (0 + 0.5) / 2
    expect(await planProgress(plan.id)).toBe(0.25);
    // The progress names the rule version that computed it (its Device in ai_models).
    const stored = expectStatus(await api.read('CarePlan', plan.id), 200).body as Json;
    expect((stored.extension as Json[]).find((e) => e.url === `${PROGRESS_URL}-model`)?.valueReference?.reference).toBe('Device/wellness-progress-1.0.0');
    expect(await progressRow(plan.id)).toEqual({ patient_id: p, plan_details: 'Stress reduction: Breathing exercises, sleep hygiene', ai_generated: false, progress: '0.25' });

    const mid = await api.created(pss(p, 21, '2026-10-20T08:00:00Z')); // 8 above: g1 = 1 − 8/16 = 0.5
    expect(await planProgress(plan.id)).toBe(0.5); // (0.5 + 0.5) / 2
    expect((await progressRow(plan.id))!.progress).toBe('0.50');

    await api.updated({ ...g2, achievementStatus: achievement('achieved') }); // g2 = 1
    expect(await planProgress(plan.id)).toBe(0.75); // (0.5 + 1) / 2

    await api.updated({ ...mid, valueInteger: 25 }); // corrected: 12 above → g1 = 1 − 12/16 = 0.25
    expect(await planProgress(plan.id)).toBe(0.63); // (0.25 + 1) / 2 = 0.625 → 0.63
    expect((await progressRow(plan.id))!.progress).toBe('0.63');

    await api.created(pss(p, 12, '2026-11-10T08:00:00Z')); // target met → g1 = 1
    expect(await planProgress(plan.id)).toBe(1);
    expect((await progressRow(plan.id))!.progress).toBe('1.00');
  });

  it('puts readings in the goal\'s unit (UCUM) and leaves out, saying so, those that cannot be converted', async () => {
    const p = (await api.created(patient())).id as string;
    const subject = { reference: `Patient/${p}` };
    const WEIGHT = { system: LOINC, code: '29463-7', display: 'Body weight' };
    const UCUM = 'http://unitsofmeasure.org';
    const weight = (value: number, code: string, at: string) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [WEIGHT] },
      subject,
      effectiveDateTime: at,
      valueQuantity: { value, unit: code, system: UCUM, code },
    });
    const goal = await api.created({ resourceType: 'Goal', lifecycleStatus: 'active', description: { text: 'Weigh 80 kg or less' }, subject, startDate: '2026-10-01', target: [{ measure: { coding: [WEIGHT] }, detailQuantity: { value: 80, comparator: '<=', unit: 'kg', system: UCUM, code: 'kg' } }] });
    await api.created(weight(95, 'kg', '2026-10-02T08:00:00Z')); // baseline: 15 kg above
    const plan = await api.created({
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'plan',
      category: [{ coding: [{ system: 'urn:fhir-ai-server:care-plan', code: 'wellness' }] }],
      title: 'Weight',
      subject,
      goal: [{ reference: `Goal/${goal.id as string}` }],
    });
    expect(await planProgress(plan.id)).toBe(0); // latest = baseline
    await api.created(weight(198, '[lb_av]', '2026-10-20T08:00:00Z')); // 89.81 kg: 1 − 9.81/15
    expect(await planProgress(plan.id)).toBe(Math.round((1 - (198 * 0.45359237 - 80) / 15) * 100) / 100);
    await api.created(weight(85000, 'g', '2026-11-01T08:00:00Z')); // 85 kg: 1 − 5/15
    expect(await planProgress(plan.id)).toBe(0.67);
    const odd = await api.created(weight(70, 'mg/dL', '2026-11-05T08:00:00Z')); // no mass: left out
    expect(await planProgress(plan.id)).toBe(0.67);
    const stored = expectStatus(await api.read('CarePlan', plan.id), 200).body as Json;
    const notes = (stored.extension as Json[]).filter((e) => e.url === `${PROGRESS_URL}-ignored`).map((e) => e.valueString);
    expect(notes).toEqual([`1 reading not counted for Goal/${goal.id as string}: unit "mg/dL" cannot be converted to "kg" (Observation/${odd.id as string} among them)`]);
    expect((await progressRow(plan.id))!.progress).toBe('0.67');
  });

  it('projects only wellness plans; an AI-authored plan is ai_generated', async () => {
    const p = (await api.created(patient())).id as string;
    const device = await api.created({ resourceType: 'Device', status: 'active', deviceName: [{ name: 'wellness-coach', type: 'model-name' }] });
    const other = await api.created({ resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${p}` }, title: 'Chemotherapy' });
    expect(await progressRow(other.id)).toBeUndefined();
    const ai = await api.created({
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'proposal',
      category: [{ coding: [{ system: 'urn:fhir-ai-server:care-plan', code: 'wellness' }] }],
      description: 'Walk 30 minutes a day',
      subject: { reference: `Patient/${p}` },
      author: { reference: `Device/${device.id as string}` },
    });
    expect(await progressRow(ai.id)).toEqual({ patient_id: p, plan_details: 'Walk 30 minutes a day', ai_generated: true, progress: null });
  });

  it('is right inside one transaction Bundle (goal, readings, plan and stress readings written together)', async () => {
    const p = (await api.created(patient())).id as string;
    const subject = { reference: `Patient/${p}` };
    const post = (fullUrl: string, resource: Json) => ({ fullUrl, resource, request: { method: 'POST', url: resource.resourceType } });
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        post('urn:uuid:00000000-0000-4000-8000-000000000001', { resourceType: 'Goal', lifecycleStatus: 'active', description: { text: 'Lower stress' }, subject, startDate: '2026-10-01', target: [{ measure: { coding: [PSS10] }, detailQuantity: { value: 13, comparator: '<=' } }] }),
        post('urn:uuid:00000000-0000-4000-8000-000000000002', pss(p, 29, '2026-10-02T08:00:00Z')),
        post('urn:uuid:00000000-0000-4000-8000-000000000003', {
          resourceType: 'CarePlan',
          status: 'active',
          intent: 'plan',
          category: [{ coding: [{ system: 'urn:fhir-ai-server:care-plan', code: 'wellness' }] }],
          description: 'Stress reduction',
          subject,
          goal: [{ reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' }],
        }),
        post('urn:uuid:00000000-0000-4000-8000-000000000004', pss(p, 21, '2026-10-20T08:00:00Z')), // g1 = 1 − 8/16
        post('urn:uuid:00000000-0000-4000-8000-000000000005', deviceStress(p, 40, '2026-11-01T08:00:00Z')),
        post('urn:uuid:00000000-0000-4000-8000-000000000006', deviceStress(p, 50, '2026-11-01T09:00:00Z')),
        post('urn:uuid:00000000-0000-4000-8000-000000000007', deviceStress(p, 60, '2026-11-01T10:00:00Z')),
      ],
    };
    const res = expectStatus(
      await request(t.app.getHttpServer()).post('/fhir').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/fhir+json').send(JSON.stringify(bundle)),
      200,
    ).body as Json;
    const idOf = (i: number) => (res.entry[i].response.location as string).split('/')[1];
    expect(await planProgress(idOf(2))).toBe(0.5);
    expect((await progressRow(idOf(2)))!.progress).toBe('0.50');
    // PSS-10 29 and 21 are below 30 and not a 3-reading rise; the device readings rise 0.4 → 0.5 → 0.6.
    expect([await suggested(idOf(1)), await suggested(idOf(3)), await suggested(idOf(4)), await suggested(idOf(5)), await suggested(idOf(6))]).toEqual([false, false, false, false, true]);
  });
});
