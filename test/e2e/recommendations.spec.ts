/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { encounter, patient, practitioner } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { RECOMMENDATION_CODE, cadCondition, clientToken, narrowedTokens, recommendationTasks, urgentTriage } from '../helpers/ai-recommendations';
import { highRiskCadObservations } from '../helpers/ai-fixtures';

/**
 * Clinicians' approvals end to end: recommendations made by the worker's real models, listed for
 * a clinician's patients (and only theirs), approved and rejected through the one write path, with
 * every refusal (role, patient, reason, twice, at once) changing nothing.
 */
let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
const ids = {} as Record<'drA' | 'drB' | 'p1' | 'p2' | 'p3' | 'lonely', string>;
const tokens = {} as Record<'drA' | 'drB' | 'ehr' | 'scientist' | 'unbound', string>;
/** p1: two diagnosis recommendations; p2: one triage recommendation; p3: one diagnosis (Dr B's patient). */
const tasks = {} as Record<'p1a' | 'p1b' | 'p2' | 'p3', Json>;

function as(token: string) {
  const server = () => t.app.getHttpServer();
  return {
    list: (query: Record<string, string> = {}) => request(server()).get('/api/recommendations').query(query).set('Authorization', `Bearer ${token}`),
    get: (id: string) => request(server()).get(`/api/recommendations/${id}`).set('Authorization', `Bearer ${token}`),
    decide: (id: string, decision: 'approve' | 'reject', body?: unknown) => {
      const r = request(server()).post(`/api/recommendations/${id}/${decision}`).set('Authorization', `Bearer ${token}`);
      return body === undefined ? r : r.set('Content-Type', 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));
    },
    fhirSearch: (type: string, query: Record<string, string>) => request(server()).get(`/fhir/${type}`).query(query).set('Authorization', `Bearer ${token}`),
  };
}

function expectOutcome(res: request.Response, status: number, text: RegExp): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status });
  expect(outcomeText(res.body)).toMatch(text);
}

async function taskNow(id: string): Promise<Json> {
  return expectStatus(await api.read('Task', id), 200).body as Json;
}

async function rowOf(id: string): Promise<Json> {
  const { rows } = await pg.query('SELECT approved_by_doctor, doctor_id, version_id, last_updated FROM recommendations WHERE id = $1', [id]);
  return rows[0];
}

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  ids.drA = (await api.created(practitioner({ family: 'Approver' }))).id;
  ids.drB = (await api.created(practitioner({ family: 'Other' }))).id;
  // The three ways a patient is a clinician's: general practitioner, encounter participant, care team member.
  ids.p1 = (await api.created(patient({ gender: 'male', birthDate: '1960-01-01', generalPractitioner: [{ reference: `Practitioner/${ids.drA}` }] }))).id;
  ids.p2 = (await api.created(patient({ family: 'Encountered' }))).id;
  await api.created(encounter(ids.p2, { participant: [{ individual: { reference: `Practitioner/${ids.drA}` } }] }));
  ids.p3 = (await api.created(patient({ gender: 'male', birthDate: '1958-03-03' }))).id;
  await api.created({ resourceType: 'CareTeam', status: 'active', subject: { reference: `Patient/${ids.p3}` }, participant: [{ member: { reference: `Practitioner/${ids.drB}` } }] });
  ids.lonely = (await api.created(patient({ family: 'Lonely' }))).id;

  tokens.drA = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${ids.drA}` })).token;
  tokens.drB = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${ids.drB}` })).token;
  tokens.ehr = (await clientToken(t, { role: 'ehr-system' })).token;
  tokens.scientist = (await clientToken(t, { role: 'data-scientist' })).token;

  await highRiskCadObservations(api, ids.p1);
  await cadCondition(api, ids.p1);
  await cadCondition(api, ids.p1);
  await urgentTriage(t, api, ids.p2);
  await highRiskCadObservations(api, ids.p3);
  await cadCondition(api, ids.p3);
  [tasks.p1a, tasks.p1b] = await recommendationTasks(api, ids.p1, 2);
  [tasks.p2] = await recommendationTasks(api, ids.p2, 1);
  [tasks.p3] = await recommendationTasks(api, ids.p3, 1);
}, 180000);

afterAll(async () => {
  await pg?.end();
  await worker?.close();
  await t?.close();
});

describe('GET /api/recommendations', () => {
  it("lists a clinician's pending recommendations with model, confidence, inputs and why, and only their patients'", async () => {
    const res = expectStatus(await as(tokens.drA).list({ status: 'pending' }), 200);
    const byId = new Map((res.body.items as Json[]).map((i) => [i.id, i]));
    expect([...byId.keys()].sort()).toEqual([tasks.p1a.id, tasks.p1b.id, tasks.p2.id].sort());
    expect(res.body).toMatchObject({ status: 'pending', total: 3, count: 3 });

    const diag = byId.get(tasks.p1a.id) as Json;
    const raId = diag.riskAssessment.split('/')[1];
    const ra = expectStatus(await api.read('RiskAssessment', raId), 200).body as Json;
    expect(diag).toMatchObject({
      task: `Task/${tasks.p1a.id}`,
      patient: `Patient/${ids.p1}`,
      status: 'pending',
      taskStatus: 'requested',
      model: { id: 'cad-cleveland-1.0.0', name: 'cad-cleveland', version: '1.0.0', task: 'diagnosis-confidence', status: 'active', retired: false },
      confidence: ra.prediction[0].probabilityDecimal,
      reason: { rule: 'diagnosis-probability-at-threshold', rulesVersion: '1', threshold: { value: 0.5 } },
      decision: null,
      warnings: [],
    });
    expect(diag.confidence).toBeGreaterThanOrEqual(0.5);
    expect(diag.created).toBe(tasks.p1a.authoredOn);
    expect(diag.reason.description).toMatch(/threshold \(0\.5\)/);
    expect(diag.provenance).toMatch(/^Provenance\//);
    // The inputs are the RiskAssessment's basis, with the values the model saw.
    expect(diag.inputs.map((i: Json) => i.reference).sort()).toEqual(ra.basis.map((b: Json) => b.reference).sort());
    expect(diag.inputs).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Observation', code: 'http://loinc.org|8480-6', value: '160 mm[Hg]' })]));
    expect(diag.notes.join(' ')).toMatch(/Imputed/);

    const triage = byId.get(tasks.p2.id) as Json;
    expect(triage).toMatchObject({ patient: `Patient/${ids.p2}`, model: { id: 'triage-news2-1.0.0', status: 'active' }, reason: { rule: 'urgent-triage' } });
    expect(['stat', 'asap']).toContain(triage.priority);
    expect(triage.prediction.outcome).toMatch(/^[12]$|priority/i);
  });

  it('filters by patient and status; 403 for another clinician\'s patient, 404 for an unknown one, 400 for bad filters', async () => {
    const p1 = expectStatus(await as(tokens.drA).list({ patient: `Patient/${ids.p1}` }), 200).body;
    expect(p1.items.map((i: Json) => i.id).sort()).toEqual([tasks.p1a.id, tasks.p1b.id].sort());
    expect(p1.patient).toBe(`Patient/${ids.p1}`);
    expect(expectStatus(await as(tokens.drA).list({ patient: `Patient/${ids.p1}`, status: 'approved' }), 200).body.items).toEqual([]);

    expectOutcome(await as(tokens.drA).list({ patient: `Patient/${ids.p3}` }), 403, /not one of this clinician's patients/);
    expectOutcome(await as(tokens.drA).get(tasks.p3.id), 403, /not one of this clinician's patients/);
    // Dr B sees p3's (a care team member) and nothing of Dr A's.
    expect(expectStatus(await as(tokens.drB).list(), 200).body.items.map((i: Json) => i.id)).toEqual([tasks.p3.id]);
    expect(expectStatus(await as(tokens.drA).list({ patient: `Patient/${ids.lonely}` }), 403).body.resourceType).toBe('OperationOutcome');

    expectOutcome(await as(tokens.drA).list({ patient: 'Patient/no-such-patient' }), 404, /does not exist/);
    expectOutcome(await as(tokens.drA).list({ patient: 'Observation/1' }), 400, /patient must be a Patient reference/);
    expectOutcome(await as(tokens.drA).list({ status: 'maybe' }), 400, /status must be one of pending, approved, rejected, all/);
    expectOutcome(await as(tokens.drA).list({ _count: '0' }), 400, /_count/);
    expectOutcome(await as(tokens.drA).get('no-such-task'), 404, /No recommendation/);
  });

  it('pages with _count and next', async () => {
    const first = expectStatus(await as(tokens.drA).list({ _count: '2' }), 200).body;
    expect(first.items).toHaveLength(2);
    expect(first.next).toBeDefined();
    const second = expectStatus(await request(t.app.getHttpServer()).get(`/api/recommendations?${first.next}`).set('Authorization', `Bearer ${tokens.drA}`), 200).body;
    expect(second.items).toHaveLength(1);
    expect(second.next).toBeUndefined();
    expect([first.total, second.total]).toEqual([3, 3]);
    expect(new Set([...first.items, ...second.items].map((i: Json) => i.id)).size).toBe(3);
  });

  it('lets administrators see every patient, and refuses EHR systems, data scientists and unbound tokens', async () => {
    const all = expectStatus(await as(t.token).list(), 200).body;
    expect(all.items.map((i: Json) => i.id).sort()).toEqual([tasks.p1a.id, tasks.p1b.id, tasks.p2.id, tasks.p3.id].sort());
    expectOutcome(await as(tokens.ehr).list(), 403, /clinicians .* and administrators only/);
    expectOutcome(await as(tokens.scientist).list(), 403, /clinicians .* and administrators only/);
    expect((await request(t.app.getHttpServer()).get('/api/recommendations')).status).toBe(401);
  });

  it("refuses tokens whose scopes do not grant reading Tasks and RiskAssessments (403), and shows only inputs the token may read", async () => {
    const [patientOnly, noRisk, noObservations] = await narrowedTokens(t, { role: 'clinician', practitioner: `Practitioner/${ids.drA}` }, [
      'user/Patient.r',
      'user/Task.rs',
      'user/Task.rs user/RiskAssessment.r',
    ]);
    expectOutcome(await as(patientOnly).list(), 403, /do not grant read on Task/);
    expectOutcome(await as(patientOnly).get(tasks.p1a.id), 403, /do not grant read on Task/);
    expectOutcome(await as(noRisk).list(), 403, /do not grant read on RiskAssessment/);
    expectOutcome(await as(noRisk).get(tasks.p1a.id), 403, /do not grant read on RiskAssessment/);

    // Inputs of types the token may not read are named, their values not shown.
    const seen = expectStatus(await as(noObservations).get(tasks.p1a.id), 200).body as Json;
    const full = expectStatus(await as(tokens.drA).get(tasks.p1a.id), 200).body as Json;
    const observations = (v: Json) => (v.inputs as Json[]).filter((i) => i.type === 'Observation');
    expect(observations(full).some((i) => i.value !== undefined)).toBe(true);
    expect(observations(seen).map((i) => i.reference).sort()).toEqual(observations(full).map((i) => i.reference).sort());
    expect(observations(seen).filter((i) => i.value !== undefined || i.code !== undefined)).toEqual([]);
  });

  it('finds the same pending recommendations as a FHIR search', async () => {
    const res = expectStatus(await as(tokens.drA).fhirSearch('Task', { code: RECOMMENDATION_CODE, status: 'requested', patient: `Patient/${ids.p1}` }), 200);
    expect(res.body.entry.map((e: Json) => e.resource.id).sort()).toEqual([tasks.p1a.id, tasks.p1b.id].sort());
    // The clinician's whole list, as one search over their patients.
    const mine = expectStatus(await as(tokens.drA).fhirSearch('Task', { code: RECOMMENDATION_CODE, status: 'requested', patient: `Patient/${ids.p1},Patient/${ids.p2}` }), 200);
    expect(mine.body.total).toBe(3);
    // ...and the patients themselves by the rule's three searches.
    const gp = expectStatus(await as(tokens.drA).fhirSearch('Patient', { 'general-practitioner': `Practitioner/${ids.drA}` }), 200);
    expect(gp.body.entry.map((e: Json) => e.resource.id)).toEqual([ids.p1]);
    const seen = expectStatus(await as(tokens.drA).fhirSearch('Patient', { '_has:Encounter:patient:participant': `Practitioner/${ids.drA}` }), 200);
    expect(seen.body.entry.map((e: Json) => e.resource.id)).toEqual([ids.p2]);
  });
});

describe('POST /api/recommendations/{id}/approve and /reject', () => {
  it('refuses the wrong roles, another clinician\'s patient, a missing reason and an unknown id, changing nothing', async () => {
    const before = await taskNow(tasks.p1a.id);
    expectOutcome(await as(t.token).decide(tasks.p1a.id, 'approve', {}), 403, /Only clinicians/);
    expectOutcome(await as(tokens.ehr).decide(tasks.p1a.id, 'approve', {}), 403, /Only clinicians/);
    expectOutcome(await as(tokens.scientist).decide(tasks.p1a.id, 'reject', { reason: 'no' }), 403, /Only clinicians/);
    expectOutcome(await as(tokens.drB).decide(tasks.p1a.id, 'approve', {}), 403, /not one of this clinician's patients/);
    expectOutcome(await as(tokens.drA).decide(tasks.p1a.id, 'reject', {}), 400, /rejection needs a reason/);
    expectOutcome(await as(tokens.drA).decide(tasks.p1a.id, 'reject', { reason: '   ' }), 400, /reason/);
    expectOutcome(await as(tokens.drA).decide(tasks.p1a.id, 'reject'), 400, /rejection needs a reason/);
    expectOutcome(await as(tokens.drA).decide(tasks.p1a.id, 'approve', { reason: 42 }), 400, /reason must be a string/);
    expectOutcome(await as(tokens.drA).decide(tasks.p1a.id, 'approve', { reason: 'ok', status: 'completed' }), 400, /Unknown field/);
    expectOutcome(await as(tokens.drA).decide(tasks.p1a.id, 'approve', '{"reason": '), 400, /JSON/);
    expectOutcome(await as(tokens.drA).decide('no-such-task', 'approve', {}), 404, /No recommendation no-such-task/);
    // A Task that is not a recommendation is not one either.
    const other = await api.created({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${ids.p1}` } });
    expectOutcome(await as(tokens.drA).decide(other.id, 'approve', {}), 404, /No recommendation/);

    const after = await taskNow(tasks.p1a.id);
    expect(after.meta.versionId).toBe(before.meta.versionId);
    expect(after.status).toBe('requested');
    expect(await rowOf(tasks.p1a.id)).toMatchObject({ approved_by_doctor: false, doctor_id: null });
  });

  it('refuses a clinician token whose scopes do not grant updating Tasks (403), as PUT /fhir/Task does, changing nothing', async () => {
    const [patientOnly, readOnly] = await narrowedTokens(t, { role: 'clinician', practitioner: `Practitioner/${ids.drA}` }, ['user/Patient.r', 'user/Task.rs user/RiskAssessment.rs']);
    const before = await taskNow(tasks.p1a.id);
    expectOutcome(await as(patientOnly).decide(tasks.p1a.id, 'approve', {}), 403, /do not grant read on Task/);
    expectOutcome(await as(readOnly).decide(tasks.p1a.id, 'approve', {}), 403, /do not grant update on Task/);
    expectOutcome(await as(readOnly).decide(tasks.p1a.id, 'reject', { reason: 'not convinced' }), 403, /do not grant update on Task/);
    const after = await taskNow(tasks.p1a.id);
    expect(after.meta.versionId).toBe(before.meta.versionId);
    expect(after.status).toBe('requested');
    expect(await rowOf(tasks.p1a.id)).toMatchObject({ approved_by_doctor: false, doctor_id: null });
  });

  it('approves: the Task is accepted and owned, the table row and an AuditEvent record who and when; twice is 409', async () => {
    const before = await taskNow(tasks.p1a.id);
    const started = Date.now();
    const res = expectStatus(await as(tokens.drA).decide(tasks.p1a.id, 'approve', { reason: 'Consistent with the angiogram' }), 200);
    expect(res.body).toMatchObject({
      id: tasks.p1a.id,
      status: 'approved',
      taskStatus: 'accepted',
      decision: { decision: 'approved', by: `Practitioner/${ids.drA}`, reason: 'Consistent with the angiogram' },
      model: { id: 'cad-cleveland-1.0.0' },
      versionId: String(Number(before.meta.versionId) + 1),
    });

    const task = await taskNow(tasks.p1a.id);
    expect(task).toMatchObject({ status: 'accepted', owner: { reference: `Practitioner/${ids.drA}` } });
    expect(Date.parse(task.lastModified)).toBeGreaterThanOrEqual(started - 1000);
    expect(task.note.at(-1)).toMatchObject({ authorReference: { reference: `Practitioner/${ids.drA}` }, text: 'Approved by the clinician: Consistent with the angiogram' });
    expect(task.statusReason).toBeUndefined();
    // Everything the AI wrote is kept.
    expect(task).toMatchObject({ intent: 'proposal', requester: before.requester, reasonReference: before.reasonReference, focus: before.focus, description: before.description });

    const row = await rowOf(tasks.p1a.id);
    expect(row).toMatchObject({ approved_by_doctor: true, doctor_id: ids.drA, version_id: Number(task.meta.versionId) });
    expect(new Date(row.last_updated).toISOString()).toBe(task.meta.lastUpdated);

    const events = await waitFor('the AuditEvent of the approval', async () => {
      // (reads of the Task have AuditEvents too: the decision is its update)
      const found = expectStatus(await api.search('AuditEvent', { entity: `Task/${tasks.p1a.id}`, action: 'U', patient: `Patient/${ids.p1}` }), 200).body.entry ?? [];
      return found.length ? (found as Json[]).map((e) => e.resource) : undefined;
    });
    expect(events).toHaveLength(1);
    const details = Object.fromEntries(events[0].entity[0].detail.map((d: Json) => [d.type, d.valueString]));
    expect(details).toMatchObject({ decision: 'approved', reason: 'Consistent with the angiogram', model: 'Device/cad-cleveland-1.0.0' });
    expect(events[0].agent[0].who.reference).toBe(`Practitioner/${ids.drA}`);
    expect(events[0].entity[1].what.reference).toBe(`Patient/${ids.p1}`);
    expect(events[0]).toMatchObject({ action: 'U', outcome: '0' });

    expectOutcome(await as(tokens.drA).decide(tasks.p1a.id, 'approve', {}), 409, /already decided \(accepted by Practitioner\//);
    expectOutcome(await as(tokens.drA).decide(tasks.p1a.id, 'reject', { reason: 'changed my mind' }), 409, /already decided/);
    expect((await taskNow(tasks.p1a.id)).meta.versionId).toBe(task.meta.versionId);

    const approved = expectStatus(await as(tokens.drA).list({ status: 'approved' }), 200).body.items;
    expect(approved.map((i: Json) => i.id)).toEqual([tasks.p1a.id]);
  });

  it('rejects with the reason as statusReason; the row records the doctor but no approval', async () => {
    const res = expectStatus(await as(tokens.drA).decide(tasks.p1b.id, 'reject', { reason: 'Recent angiogram was normal' }), 200);
    expect(res.body).toMatchObject({ status: 'rejected', taskStatus: 'rejected', decision: { decision: 'rejected', by: `Practitioner/${ids.drA}`, reason: 'Recent angiogram was normal' } });
    const task = await taskNow(tasks.p1b.id);
    expect(task).toMatchObject({ status: 'rejected', statusReason: { text: 'Recent angiogram was normal' }, owner: { reference: `Practitioner/${ids.drA}` } });
    expect(await rowOf(tasks.p1b.id)).toMatchObject({ approved_by_doctor: false, doctor_id: ids.drA });
    expect(expectStatus(await as(tokens.drA).list({ status: 'rejected' }), 200).body.items.map((i: Json) => i.id)).toEqual([tasks.p1b.id]);
    expect(expectStatus(await as(tokens.drA).list({ status: 'all', patient: `Patient/${ids.p1}` }), 200).body.items).toHaveLength(2);
    expectOutcome(await as(tokens.drA).decide(tasks.p1b.id, 'approve', {}), 409, /already decided \(rejected/);
  });

  describe('a recommendation made by a retired model version', () => {
    beforeAll(async () => {
      await pg.query("UPDATE ai_models SET status = 'retired' WHERE id = 'triage-news2-1.0.0'");
    });
    afterAll(async () => {
      await pg.query("UPDATE ai_models SET status = 'active' WHERE id = 'triage-news2-1.0.0'");
    });

    it('says so in the listing', async () => {
      const items = expectStatus(await as(tokens.drA).list({ patient: `Patient/${ids.p2}` }), 200).body.items as Json[];
      expect(items).toHaveLength(1);
      expect(items[0].model).toMatchObject({ id: 'triage-news2-1.0.0', status: 'retired', retired: true });
      expect(items[0].warnings.join(' ')).toMatch(/triage-news2-1\.0\.0, which is retired/);
    });

    it('decided by several at once: exactly one wins, the others get 409, and the answer warns of the retired model', async () => {
      const results = await Promise.all([
        as(tokens.drA).decide(tasks.p2.id, 'approve', { reason: 'first' }),
        as(tokens.drA).decide(tasks.p2.id, 'reject', { reason: 'second' }),
        as(tokens.drA).decide(tasks.p2.id, 'approve', { reason: 'third' }),
        as(tokens.drA).decide(tasks.p2.id, 'reject', { reason: 'fourth' }),
      ]);
      const won = results.filter((r) => r.status === 200);
      const lost = results.filter((r) => r.status !== 200);
      expect(won).toHaveLength(1);
      expect(lost.map((r) => r.status)).toEqual([409, 409, 409]);
      for (const r of lost) expect(outcomeText(r.body)).toMatch(/already decided/);
      expect(won[0].body.warnings.join(' ')).toMatch(/retired/);
      expect(won[0].body.model.retired).toBe(true);

      const task = await taskNow(tasks.p2.id);
      expect(task.status).toBe(won[0].body.taskStatus);
      expect(task.meta.versionId).toBe(won[0].body.versionId);
      expect(task.note.filter((n: Json) => /^(Approved|Rejected) by the clinician/.test(n.text))).toHaveLength(1);
      const history = expectStatus(await api.history('Task', tasks.p2.id), 200).body;
      expect(history.total ?? history.entry.length).toBe(2);
      expect(await rowOf(tasks.p2.id)).toMatchObject({ approved_by_doctor: task.status === 'accepted', doctor_id: ids.drA });
    });
  });
});
