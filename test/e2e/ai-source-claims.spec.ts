/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import request from 'supertest';
import { FHIR_JSON, FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
import { patient, practitioner } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { cadCondition, clientToken } from '../helpers/ai-recommendations';
import { highRiskCadObservations, quantity } from '../helpers/ai-fixtures';

/**
 * The AI's own writes are known by who wrote them (the outbox actor), not by meta.source, which a
 * client sends: a clinician's edit of a Condition the AI annotated, sent back with the meta it was
 * read with, is stored as the clinician's (without the AI's meta.source), scored again, and
 * supersedes the pending recommendation; no client write stores the AI's meta.source.
 */
const AI_SOURCE = 'urn:fhir-ai-server:ai-worker';
const AI_JOB = 'urn:fhir-ai-server:ai-job';

let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let clinician: string;
let patientId: string;

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  const dr = (await api.created(practitioner({ family: 'Editor' }))).id;
  patientId = (await api.created(patient({ gender: 'male', birthDate: '1960-01-01', generalPractitioner: [{ reference: `Practitioner/${dr}` }] }))).id;
  clinician = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${dr}` })).token;
}, 60000);

afterAll(async () => {
  await worker?.close();
  await t?.close();
});

const put = (token: string, resource: Json) =>
  request(t.app.getHttpServer()).put(`/fhir/${resource.resourceType}/${resource.id}`).set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(resource));

async function assessments(conditionId: string, n: number): Promise<Json[]> {
  return waitFor(`${n} RiskAssessment(s) for Condition/${conditionId}`, async () => {
    const res = expectStatus(await api.search('RiskAssessment', { identifier: `${AI_JOB}|`, _count: '50' }), 200);
    const found = ((res.body.entry ?? []) as Json[]).map((e) => e.resource).filter((r: Json) => r.condition?.reference === `Condition/${conditionId}`);
    return found.length >= n ? found : undefined;
  }, 45000);
}

async function recommendationsOf(conditionId: string): Promise<Json[]> {
  return (expectStatus(await api.search('Task', { code: 'urn:fhir-ai-server:ai-task|recommendation', focus: `Condition/${conditionId}` }), 200).body.entry ?? []).map((e: Json) => e.resource);
}

/** The Condition once the AI has written its confidence back (`version` at least). */
async function annotated(conditionId: string, version: number): Promise<Json> {
  return waitFor(`the AI's version ${version} of Condition/${conditionId}`, async () => {
    const c = expectStatus(await api.read('Condition', conditionId), 200).body as Json;
    return c.meta.source === AI_SOURCE && Number(c.meta.versionId) >= version ? c : undefined;
  }, 45000);
}

describe("a clinician's edit of a resource the AI wrote", () => {
  it('is stored as theirs, scored again, and supersedes the pending recommendation', async () => {
    await highRiskCadObservations(api, patientId);
    const condition = await cadCondition(api, patientId);
    const [first] = await assessments(condition.id, 1);
    const [pending] = await waitFor('the first recommendation', async () => {
      const found = await recommendationsOf(condition.id);
      return found.length ? found : undefined;
    });
    expect(pending.status).toBe('requested');

    // The outside tester's case: read the AI's version 2, add a note, send it back as read (meta and all).
    const read = await annotated(condition.id, 2);
    expect(read.meta.versionId).toBe('2');
    const edited = expectStatus(await put(clinician, { ...read, note: [{ text: 'Seen in clinic; no change.' }] }), 200).body as Json;
    expect(edited.meta.versionId).toBe('3');
    expect(edited.meta.source).toBeUndefined();
    const history = expectStatus(await api.vread('Condition', condition.id, 3), 200).body as Json;
    expect(history.meta.source).toBeUndefined();

    // Scored again: a second RiskAssessment, the earlier recommendation cancelled for the new one.
    const both = await assessments(condition.id, 2);
    const second = both.find((r) => r.id !== first.id) as Json;
    const recs = await waitFor('the earlier recommendation superseded', async () => {
      const found = await recommendationsOf(condition.id);
      return found.some((x) => x.id === pending.id && x.status === 'cancelled') ? found : undefined;
    });
    expect(recs.filter((x) => x.status === 'requested').map((x) => x.reasonReference.reference)).toEqual([`RiskAssessment/${second.id}`]);

    // The AI's write-back of that score is the AI's again; sending it back unchanged makes no version.
    const again = await annotated(condition.id, 4);
    const unchanged = expectStatus(await put(clinician, again), 200).body as Json;
    expect(unchanged.meta.versionId).toBe(again.meta.versionId);
  }, 120000);
});

describe("the AI's meta.source on a client's write", () => {
  it('is dropped on create and update; any other meta.source is kept', async () => {
    const claimed = await api.created({ ...quantity(patientId, '8867-4', 72, '/min'), meta: { source: AI_SOURCE, tag: [{ system: 'urn:example', code: 'kept' }] } });
    expect(claimed.meta.source).toBeUndefined();
    expect(claimed.meta.tag).toEqual([{ system: 'urn:example', code: 'kept' }]);
    const own = await api.created({ ...quantity(patientId, '8867-4', 74, '/min'), meta: { source: 'http://example.org/app' } });
    expect(own.meta.source).toBe('http://example.org/app');
    const updated = await api.updated({ ...own, valueQuantity: { ...own.valueQuantity, value: 75 }, meta: { source: AI_SOURCE } });
    expect(updated.meta.source).toBeUndefined();
    // In a Bundle too.
    const bundle = expectStatus(
      await api.bundle({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { ...quantity(patientId, '8867-4', 76, '/min'), meta: { source: AI_SOURCE } }, request: { method: 'POST', url: 'Observation' } }] }),
      200,
    ).body as Json;
    const id = String(bundle.entry[0].response.location).split('/')[1];
    expect((expectStatus(await api.read('Observation', id), 200).body as Json).meta.source).toBeUndefined();
  });
});
