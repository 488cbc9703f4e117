/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import type { Client } from 'pg';
import request from 'supertest';
import { FHIR_JSON, FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { patient, practitioner } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { cadCondition, clientToken, recommendationTasks } from '../helpers/ai-recommendations';
import { highRiskCadObservations } from '../helpers/ai-fixtures';

/**
 * A recommendation Task is decided only through POST /api/recommendations/{id}/approve or /reject:
 * over plain FHIR (PUT, conditional PUT, PATCH, DELETE, transaction and batch entries, a forged
 * create) its status, owner, statusReason, businessStatus and content cannot be changed by anyone,
 * an administrator or a clinician of another patient included, and a refusal changes nothing
 * (the Task, the recommendations row, the approval view). Notes can be added.
 */
let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
const ids = {} as Record<'drA' | 'drB' | 'p1' | 'p2', string>;
const tokens = {} as Record<'drA' | 'drB', string>;
let task: Json;

const server = () => t.app.getHttpServer();
const put = (token: string, path: string, body: Json) =>
  request(server()).put(`/fhir/${path}`).set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
const approval = (token: string, id: string, decision: 'approve' | 'reject', body: Json = {}) =>
  request(server()).post(`/api/recommendations/${id}/${decision}`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
const view = async (id: string) => expectStatus(await request(server()).get(`/api/recommendations/${id}`).set('Authorization', `Bearer ${t.token}`), 200).body as Json;

function expectRefused(res: request.Response, status = 409): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status });
  expect(outcomeText(res.body)).toMatch(/\/api\/recommendations\/\{id\}\/approve/);
}

async function taskNow(id: string): Promise<Json> {
  return expectStatus(await api.read('Task', id), 200).body as Json;
}

async function rowOf(id: string): Promise<Json> {
  const { rows } = await pg.query('SELECT approved_by_doctor, doctor_id, version_id FROM recommendations WHERE id = $1', [id]);
  return rows[0];
}

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  ids.drA = (await api.created(practitioner({ family: 'Approver' }))).id;
  ids.drB = (await api.created(practitioner({ family: 'Elsewhere' }))).id;
  ids.p1 = (await api.created(patient({ gender: 'male', birthDate: '1960-01-01', generalPractitioner: [{ reference: `Practitioner/${ids.drA}` }] }))).id;
  ids.p2 = (await api.created(patient({ generalPractitioner: [{ reference: `Practitioner/${ids.drB}` }] }))).id;
  tokens.drA = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${ids.drA}` })).token;
  tokens.drB = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${ids.drB}` })).token;
  await highRiskCadObservations(api, ids.p1);
  await cadCondition(api, ids.p1);
  [task] = await recommendationTasks(api, ids.p1, 1);
}, 180000);

afterAll(async () => {
  await pg?.end();
  await worker?.close();
  await t?.close();
});

describe('recommendation Tasks over plain FHIR', () => {
  it('refuses every way of deciding or rewriting one outside the approval API, changing nothing', async () => {
    const before = await taskNow(task.id);
    expect(before.status).toBe('requested');
    const row = await rowOf(task.id);
    expect(row).toMatchObject({ approved_by_doctor: false, doctor_id: null });
    const { meta: _meta, ...body } = before;

    // The outside tester's cases: a clinician of another patient accepts it for themselves; an administrator rejects it without a reason.
    expectRefused(await put(tokens.drB, `Task/${task.id}`, { ...before, status: 'accepted', owner: { reference: `Practitioner/${ids.drB}` } }));
    expectRefused(await put(t.token, `Task/${task.id}`, { ...body, status: 'rejected' }));
    // The other decision fields and the recommendation itself.
    expectRefused(await put(t.token, `Task/${task.id}`, { ...body, owner: { reference: `Practitioner/${ids.drA}` } }));
    expectRefused(await put(t.token, `Task/${task.id}`, { ...body, statusReason: { text: 'no' } }));
    expectRefused(await put(t.token, `Task/${task.id}`, { ...body, businessStatus: { text: 'approved' } }));
    expectRefused(await put(t.token, `Task/${task.id}`, { ...body, description: 'Nothing to review' }));
    expectRefused(await put(t.token, `Task/${task.id}`, { ...body, code: { text: 'a plain task' } }));
    // Conditional update, JSON Patch, delete.
    expectRefused(await put(t.token, `Task?_id=${task.id}`, { ...body, status: 'accepted' }));
    const patched = await request(server())
      .patch(`/fhir/Task/${task.id}`)
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/status', value: 'accepted' }]));
    expectRefused(patched);
    expectRefused(await api.delete('Task', task.id));
    // A transaction is refused whole; a batch answers the entry with the refusal.
    const entry = { fullUrl: `${t.baseUrl}/fhir/Task/${task.id}`, resource: { ...body, status: 'accepted', owner: { reference: `Practitioner/${ids.drB}` } }, request: { method: 'PUT', url: `Task/${task.id}` } };
    expectRefused(await api.bundle({ resourceType: 'Bundle', type: 'transaction', entry: [entry] }));
    const batch = expectStatus(await api.bundle({ resourceType: 'Bundle', type: 'batch', entry: [entry] }), 200).body as Json;
    expect(batch.entry[0].response.status).toMatch(/^409/);
    expect(outcomeText(batch.entry[0].response.outcome)).toMatch(/\/api\/recommendations\/\{id\}\/approve/);
    // A pending recommendation the AI never raised cannot be created, nor another Task turned into one.
    const { id: _id, ...forged } = body;
    expectRefused(await api.create({ ...forged, for: { reference: `Patient/${ids.p1}` } }));
    const plain = await api.created({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${ids.p1}` } });
    expectRefused(await put(t.token, `Task/${plain.id}`, { ...plain, code: body.code, status: 'accepted' }));

    // Nothing changed: the Task, its row, the approval view.
    const after = await taskNow(task.id);
    expect(after.meta.versionId).toBe(before.meta.versionId);
    expect(after.status).toBe('requested');
    expect(await rowOf(task.id)).toEqual(row);
    expect(await view(task.id)).toMatchObject({ status: 'pending', taskStatus: 'requested', decision: null });
  });

  it('lets a client add a note, without deciding, and only add one', async () => {
    const before = await taskNow(task.id);
    const noted = expectStatus(await put(tokens.drA, `Task/${task.id}`, { ...before, note: [...(before.note ?? []), { text: 'Discuss at the cardiology round' }] }), 200).body as Json;
    expect(noted.status).toBe('requested');
    expect(noted.note.at(-1).text).toBe('Discuss at the cardiology round');
    expect(Number(noted.meta.versionId)).toBe(Number(before.meta.versionId) + 1);
    expect(await rowOf(task.id)).toMatchObject({ approved_by_doctor: false, doctor_id: null });
    expect(await view(task.id)).toMatchObject({ status: 'pending', decision: null });

    // Notes already there stay; a note that reads as the decision's is the decision's own.
    expectRefused(await put(t.token, `Task/${task.id}`, { ...noted, note: [{ text: 'Something else' }] }));
    expectRefused(await put(t.token, `Task/${task.id}`, { ...noted, note: [...noted.note, { text: 'Approved by the clinician: looks right' }] }));
    expect((await taskNow(task.id)).meta.versionId).toBe(noted.meta.versionId);
  });

  it('is decided through the approval API (by the clinician of the patient), after which FHIR writes still cannot change it', async () => {
    const approved = expectStatus(await approval(tokens.drA, task.id, 'approve', { reason: 'Consistent with the angiogram' }), 200).body as Json;
    expect(approved).toMatchObject({ status: 'approved', taskStatus: 'accepted', decision: { by: `Practitioner/${ids.drA}`, at: expect.any(String) } });
    expect(await rowOf(task.id)).toMatchObject({ approved_by_doctor: true, doctor_id: ids.drA });
    const decided = await taskNow(task.id);
    expectRefused(await put(t.token, `Task/${task.id}`, { ...decided, status: 'rejected', statusReason: { text: 'changed my mind' } }));
    expectRefused(await put(tokens.drB, `Task/${task.id}`, { ...decided, owner: { reference: `Practitioner/${ids.drB}` } }));
    expect(await rowOf(task.id)).toMatchObject({ approved_by_doctor: true, doctor_id: ids.drA });
    // Deciding twice is refused as before.
    const again = await approval(tokens.drA, task.id, 'reject', { reason: 'no' });
    expect(again.status).toBe(409);
    expect(outcomeText(again.body)).toMatch(/already decided/);
  });
});
