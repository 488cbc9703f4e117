/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { patient, practitioner } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { cadCondition, clientToken, recommendationTasks, urgentTriage } from '../helpers/ai-recommendations';
import { highRiskCadObservations } from '../helpers/ai-fixtures';

/**
 * CDS Hooks end to end: discovery, a patient-view call whose cards are the patient's pending
 * recommendations (made by the worker's real models), a suggestion's action applied by the EHR
 * as a FHIR update (refused: only the approval path decides), and feedback (recorded always;
 * deciding only for a clinician).
 */
let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
const ids = {} as Record<'drA' | 'drB' | 'p1' | 'p3', string>;
const tokens = {} as Record<'drA' | 'drB' | 'ehr' | 'scientist', string>;
let diagnosis: Json;
let triage: Json;
const SERVICE = 'ai-recommendations';

const server = () => t.app.getHttpServer();
const discovery = (token?: string) => {
  const r = request(server()).get('/cds-services');
  return token ? r.set('Authorization', `Bearer ${token}`) : r;
};
const hook = (token: string, body: unknown, service = SERVICE) =>
  request(server()).post(`/cds-services/${service}`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
const feedback = (token: string, body: unknown) =>
  request(server()).post(`/cds-services/${SERVICE}/feedback`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));

function hookRequest(patientId: string, over: Json = {}): Json {
  return {
    hookInstance: randomUUID(),
    hook: 'patient-view',
    fhirServer: `${t.baseUrl}/fhir`,
    context: { userId: `Practitioner/${ids.drA}`, patientId },
    ...over,
  };
}

function expectOutcome(res: request.Response, status: number, text: RegExp): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status });
  expect(outcomeText(res.body)).toMatch(text);
}

async function taskNow(id: string): Promise<Json> {
  return expectStatus(await api.read('Task', id), 200).body as Json;
}

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  ids.drA = (await api.created(practitioner({ family: 'Viewer' }))).id;
  ids.drB = (await api.created(practitioner({ family: 'Elsewhere' }))).id;
  ids.p1 = (await api.created(patient({ gender: 'male', birthDate: '1960-01-01', generalPractitioner: [{ reference: `Practitioner/${ids.drA}` }] }))).id;
  ids.p3 = (await api.created(patient({ generalPractitioner: [{ reference: `Practitioner/${ids.drB}` }] }))).id;
  tokens.drA = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${ids.drA}` })).token;
  tokens.drB = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${ids.drB}` })).token;
  tokens.ehr = (await clientToken(t, { role: 'ehr-system' })).token;
  tokens.scientist = (await clientToken(t, { role: 'data-scientist' })).token;

  await highRiskCadObservations(api, ids.p1);
  const condition = await cadCondition(api, ids.p1);
  [diagnosis] = await recommendationTasks(api, ids.p1, 1);
  expect(diagnosis.focus.reference).toBe(`Condition/${condition.id}`);
  await urgentTriage(t, api, ids.p1);
  const both = await recommendationTasks(api, ids.p1, 2);
  triage = both.find((x) => x.id !== diagnosis.id) as Json;
}, 180000);

afterAll(async () => {
  await pg?.end();
  await worker?.close();
  await t?.close();
});

describe('discovery', () => {
  it('lists the patient-view service with its prefetch template', async () => {
    const res = expectStatus(await discovery(tokens.ehr), 200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({
      services: [
        {
          hook: 'patient-view',
          id: SERVICE,
          title: expect.any(String),
          description: expect.stringMatching(/pending AI recommendations/),
          prefetch: { patient: 'Patient/{{context.patientId}}' },
        },
      ],
    });
    expectStatus(await discovery(tokens.drA), 200);
  });

  it('needs a bearer token of an EHR system or a clinician', async () => {
    expect((await discovery()).status).toBe(401);
    expectOutcome(await discovery(tokens.scientist), 403, /EHR-system and clinician tokens only/);
    expectOutcome(await discovery(t.token), 403, /EHR-system and clinician tokens only/);
  });
});

describe('patient-view', () => {
  it("answers one card per pending recommendation, matching the clinicians' listing", async () => {
    const prefetchPatient = expectStatus(await api.read('Patient', ids.p1), 200).body;
    const call = hookRequest(ids.p1, { prefetch: { patient: prefetchPatient } });
    const res = expectStatus(await hook(tokens.ehr, call), 200);
    const cards = res.body.cards as Json[];
    const listing = expectStatus(await request(server()).get('/api/recommendations').query({ patient: `Patient/${ids.p1}` }).set('Authorization', `Bearer ${tokens.drA}`), 200).body.items as Json[];
    expect(cards.map((c) => c.uuid).sort()).toEqual(listing.map((i) => i.id).sort());
    expect(cards.map((c) => c.uuid).sort()).toEqual([diagnosis.id, triage.id].sort());
    // Most urgent first: the triage (stat/asap) before the routine diagnosis.
    expect(cards[0].uuid).toBe(triage.id);
    expect(['critical', 'warning']).toContain(cards[0].indicator);
    expect(cards[0].indicator).toBe(triage.priority === 'stat' ? 'critical' : 'warning');

    const card = cards.find((c) => c.uuid === diagnosis.id) as Json;
    const item = listing.find((i) => i.id === diagnosis.id) as Json;
    expect(card.indicator).toBe('info');
    expect(card.summary.length).toBeLessThan(140);
    expect(card.summary).toContain(`p=${item.confidence.toFixed(2)}`);
    expect(card.source).toEqual({ label: expect.any(String), topic: { system: 'urn:fhir-ai-server:ai-task', code: 'diagnosis-confidence', display: expect.any(String) } });
    expect(card.detail).toContain('**Model:** cad-cleveland 1.0.0 \\(active\\)');
    expect(card.detail).toContain(`**Confidence:** ${item.confidence.toFixed(2)}`);
    expect(card.detail).toMatch(/\*\*Inputs used:\*\*\n- /);
    expect(card.detail).toContain('160 mm\\[Hg\\]');
    expect(card.detail).toContain('- Patient demographics \\(age, sex\\)');
    expect(card.selectionBehavior).toBe('at-most-one');
    expect(card.overrideReasons.length).toBeGreaterThan(0);
    expect(card.suggestions.map((s: Json) => s.label)).toEqual(['Accept', 'Reject']);
    const [accept, reject] = card.suggestions as Json[];
    expect(new Set([card.uuid, accept.uuid, reject.uuid]).size).toBe(3);
    expect(accept.actions).toEqual([expect.objectContaining({ type: 'update', description: expect.any(String) })]);
    expect(accept.actions[0].resource).toMatchObject({ resourceType: 'Task', id: diagnosis.id, status: 'accepted', owner: { reference: `Practitioner/${ids.drA}` } });
    expect(reject.actions[0].resource).toMatchObject({ resourceType: 'Task', id: diagnosis.id, status: 'rejected', statusReason: { text: expect.any(String) } });
    // The call is audited: who looked at which patient's recommendations, through which hook.
    const hookInstance = call.hookInstance;
    const audited = await waitFor('the AuditEvent of the hook call', async () => {
      const found = ((expectStatus(await api.search('AuditEvent', { entity: `Patient/${ids.p1}`, action: 'E' }), 200).body.entry ?? []) as Json[]).map((e) => e.resource);
      return found.find((e) => e.entity[0].detail?.some((d: Json) => d.type === 'hookInstance' && d.valueString === hookInstance));
    });
    expect(Object.fromEntries(audited.entity[0].detail.map((d: Json) => [d.type, d.valueString]))).toMatchObject({ hook: 'patient-view', userId: `Practitioner/${ids.drA}`, cards: '2' });
    // The same call again gives the same cards (stable uuids for feedback).
    const again = expectStatus(await hook(tokens.ehr, hookRequest(ids.p1)), 200).body.cards as Json[];
    expect(again.map((c) => [c.uuid, c.suggestions.map((s: Json) => s.uuid)])).toEqual(cards.map((c) => [c.uuid, c.suggestions.map((s: Json) => s.uuid)]));
  });

  it('answers a clinician for their own patients only, as themselves', async () => {
    expect(expectStatus(await hook(tokens.drA, hookRequest(ids.p1)), 200).body.cards).toHaveLength(2);
    expectOutcome(await hook(tokens.drB, hookRequest(ids.p1, { context: { userId: `Practitioner/${ids.drB}`, patientId: ids.p1 } })), 403, /not one of this clinician's patients/);
    expectOutcome(await hook(tokens.drB, hookRequest(ids.p1)), 403, /is not this clinician token's Practitioner/);
    expect(expectStatus(await hook(tokens.drB, hookRequest(ids.p3, { context: { userId: `Practitioner/${ids.drB}`, patientId: ids.p3 } })), 200).body).toEqual({ cards: [] });
    expectOutcome(await hook(tokens.scientist, hookRequest(ids.p1)), 403, /EHR-system and clinician/);
    expectOutcome(await hook(t.token, hookRequest(ids.p1)), 403, /EHR-system and clinician/);
  });

  it('refuses malformed requests with a 400 naming each problem, an unknown service with 404, an unknown patient with 412', async () => {
    const bad = async (body: unknown, text: RegExp) => expectOutcome(await hook(tokens.ehr, body), 400, text);
    await bad([], /must be a CDS Hooks request/);
    await bad(hookRequest(ids.p1, { hookInstance: undefined }), /hookInstance must be a UUID/);
    await bad(hookRequest(ids.p1, { hookInstance: 'abc' }), /hookInstance must be a UUID/);
    await bad(hookRequest(ids.p1, { hook: 'order-select' }), /hook must be "patient-view"/);
    await bad(hookRequest(ids.p1, { context: { patientId: ids.p1 } }), /context.userId must be a reference/);
    await bad(hookRequest(ids.p1, { context: { userId: 'Device/x', patientId: ids.p1 } }), /context.userId/);
    await bad(hookRequest(ids.p1, { context: { userId: `Practitioner/${ids.drA}` } }), /context.patientId must be a FHIR id/);
    await bad(hookRequest(ids.p1, { context: undefined }), /context must be an object/);
    await bad(hookRequest(ids.p1, { fhirServer: 'not a url' }), /fhirServer must be an http\(s\) URL/);
    await bad(hookRequest(ids.p1, { fhirServer: undefined, fhirAuthorization: { access_token: 'x', token_type: 'Bearer', expires_in: 300, scope: 'user/*.read', subject: 'app' } }), /without fhirServer/);
    await bad(hookRequest(ids.p1, { fhirAuthorization: { access_token: 'x', token_type: 'MAC', expires_in: 300, scope: 's', subject: 'app' } }), /token_type must be "Bearer"/);
    await bad(hookRequest(ids.p1, { prefetch: { patient: { resourceType: 'Patient', id: ids.p3 } } }), /prefetch.patient is Patient\/.*not the context's/);
    await bad(hookRequest(ids.p1, { prefetch: { patient: { resourceType: 'Observation', id: ids.p1 } } }), /prefetch.patient must be a Patient/);
    // Several problems at once: each is named.
    const many = await hook(tokens.ehr, { hook: 'patient-view', context: {} });
    expect(many.status).toBe(400);
    expect(many.body.issue.length).toBe(3);
    // A prefetch the client could not fill is null, which is fine.
    expectStatus(await hook(tokens.ehr, hookRequest(ids.p1, { prefetch: { patient: null } })), 200);

    expectOutcome(await hook(tokens.ehr, hookRequest(ids.p1), 'no-such-service'), 404, /No CDS service "no-such-service"/);
    expectOutcome(await hook(tokens.ehr, hookRequest('no-such-patient')), 412, /Patient\/no-such-patient is not known/);
  });

  it("reads the context's ids as the fhirServer's: a connected EHR's through what was pulled from it, another server's not at all (412)", async () => {
    // Another FHIR server's Patient that happens to have this server's id is not this server's patient.
    expectOutcome(await hook(tokens.ehr, hookRequest(ids.p1, { fhirServer: 'https://other-ehr.example.org/fhir' })), 412, /neither this server .* nor the base URL of a connected EHR/);

    // A connected EHR names its own ids; the pulled copies are found through the connection's mapping.
    const connection = await request(server())
      .post('/api/connections')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/json')
      .send({ name: 'CDS EHR', baseUrl: 'https://cds-ehr.example.org/fhir/', auth: { type: 'none' } });
    expectStatus(connection, 201);
    await pg.query(
      `INSERT INTO exchange_remote_resources (connection_id, resource_type, remote_id, local_id) VALUES ($1, 'Patient', 'ehr-p1', $2), ($1, 'Practitioner', 'ehr-dr-a', $3)`,
      [connection.body.id, ids.p1, ids.drA],
    );
    const ehrCall = (patientId: string) =>
      hookRequest(ids.p1, { fhirServer: 'https://CDS-EHR.example.org/fhir', context: { userId: 'Practitioner/ehr-dr-a', patientId }, prefetch: { patient: { resourceType: 'Patient', id: patientId } } });
    const cards = expectStatus(await hook(tokens.drA, ehrCall('ehr-p1')), 200).body.cards as Json[];
    expect(cards.map((c) => c.uuid).sort()).toEqual([diagnosis.id, triage.id].sort());
    expect(cards[0].suggestions[0].actions[0].resource.owner).toEqual({ reference: `Practitioner/${ids.drA}` });
    expectOutcome(await hook(tokens.ehr, ehrCall('ehr-unknown')), 412, /Patient\/ehr-unknown of https:\/\/cds-ehr.example.org\/fhir has not been pulled/);
  });
});

describe('suggestions and feedback', () => {
  it("refuses a suggestion's action applied as a FHIR update; the clinician's feedback decides: the recommendation is accepted and its card gone", async () => {
    const cards = expectStatus(await hook(tokens.ehr, hookRequest(ids.p1)), 200).body.cards as Json[];
    const accept = (cards.find((c) => c.uuid === diagnosis.id) as Json).suggestions[0].actions[0];
    // Applied by the EHR system itself, the action would decide without a clinician: refused, naming the approval API.
    const applied = await request(server()).put(`/fhir/Task/${diagnosis.id}`).set('Authorization', `Bearer ${tokens.ehr}`).set('Content-Type', 'application/fhir+json').send(JSON.stringify(accept.resource));
    expectOutcome(applied, 409, /\/api\/recommendations\/\{id\}\/approve/);
    expect((await taskNow(diagnosis.id)).status).toBe('requested');

    // The clinician's feedback accepting the suggestion decides it, through the approval path.
    const suggestion = (cards.find((c) => c.uuid === diagnosis.id) as Json).suggestions[0].uuid;
    expectStatus(await feedback(tokens.drA, { feedback: [{ card: diagnosis.id, outcome: 'accepted', acceptedSuggestions: [{ id: suggestion }], outcomeTimestamp: new Date().toISOString() }] }), 200);
    expect(await taskNow(diagnosis.id)).toMatchObject({ status: 'accepted', owner: { reference: `Practitioner/${ids.drA}` } });
    const { rows } = await pg.query('SELECT approved_by_doctor, doctor_id FROM recommendations WHERE id = $1', [diagnosis.id]);
    expect(rows[0]).toEqual({ approved_by_doctor: true, doctor_id: ids.drA });
    const after = expectStatus(await hook(tokens.ehr, hookRequest(ids.p1)), 200).body.cards as Json[];
    expect(after.map((c) => c.uuid)).toEqual([triage.id]);

    // The same feedback again is no conflict: it is already so.
    expectStatus(await feedback(tokens.drA, { feedback: [{ card: diagnosis.id, outcome: 'accepted', acceptedSuggestions: [{ id: suggestion }], outcomeTimestamp: new Date().toISOString() }] }), 200);
    expect((await taskNow(diagnosis.id)).status).toBe('accepted');
  });

  it("records an EHR system's feedback as an AuditEvent without deciding anything", async () => {
    const card = (expectStatus(await hook(tokens.ehr, hookRequest(ids.p1)), 200).body.cards as Json[])[0];
    const before = await taskNow(triage.id);
    const res = expectStatus(await feedback(tokens.ehr, { feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: card.suggestions[0].uuid }], outcomeTimestamp: '2026-01-01T10:00:00Z' }] }), 200);
    expect(res.body).toEqual({});
    const events = await waitFor('the feedback AuditEvent', async () => {
      const found = expectStatus(await api.search('AuditEvent', { entity: `Task/${triage.id}`, action: 'E' }), 200).body.entry ?? [];
      return found.length ? (found as Json[]).map((e) => e.resource) : undefined;
    });
    const details = Object.fromEntries(events[0].entity[0].detail.map((d: Json) => [d.type, d.valueString]));
    expect(details).toMatchObject({ 'cds-feedback-outcome': 'accepted', card: card.uuid, outcomeTimestamp: '2026-01-01T10:00:00Z', acceptedSuggestion: `${card.suggestions[0].uuid} (Accept)` });
    expect(details.decision).toBeUndefined();
    expect(events[0].entity[1].what.reference).toBe(`Patient/${ids.p1}`);
    const after = await taskNow(triage.id);
    expect(after.status).toBe('requested');
    expect(after.meta.versionId).toBe(before.meta.versionId);
  });

  it('refuses malformed feedback and unknown cards or suggestions, changing nothing', async () => {
    const card = (expectStatus(await hook(tokens.drA, hookRequest(ids.p1)), 200).body.cards as Json[])[0];
    const now = new Date().toISOString();
    const bad = async (body: unknown, text: RegExp, status = 400) => expectOutcome(await feedback(tokens.drA, body), status, text);
    await bad({}, /\{"feedback": \[\.\.\.\]\}/);
    await bad({ feedback: [] }, /at least one entry/);
    await bad({ feedback: [{ card: card.uuid, outcome: 'maybe', outcomeTimestamp: now }] }, /outcome must be "accepted" or "overridden"/);
    await bad({ feedback: [{ card: card.uuid, outcome: 'accepted' }] }, /outcomeTimestamp/);
    await bad({ feedback: [{ card: randomUUID(), outcome: 'overridden', outcomeTimestamp: now }] }, /is not a card of this service/);
    await bad({ feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: randomUUID() }], outcomeTimestamp: now }] }, /is not a suggestion of card/);
    await bad({ feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: card.suggestions.map((s: Json) => ({ id: s.uuid })), outcomeTimestamp: now }] }, /cannot both be accepted/);
    await bad({ feedback: [{ card: card.uuid, outcome: 'overridden', acceptedSuggestions: [{ id: card.suggestions[1].uuid }], outcomeTimestamp: now }] }, /go with the outcome "accepted" only/);
    // The whole request is checked first: a good entry before a bad one is not applied either.
    await bad(
      { feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: card.suggestions[1].uuid }], outcomeTimestamp: now }, { card: randomUUID(), outcome: 'overridden', outcomeTimestamp: now }] },
      /feedback\[1\]\.card/,
    );
    expectOutcome(await feedback(tokens.drB, { feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: card.suggestions[1].uuid }], outcomeTimestamp: now }] }), 403, /not one of this clinician's patients/);
    expectOutcome(await feedback(tokens.scientist, { feedback: [{ card: card.uuid, outcome: 'overridden', outcomeTimestamp: now }] }), 403, /EHR-system and clinician/);
    expect((await taskNow(triage.id)).status).toBe('requested');
  });

  it("lets a clinician's feedback reject through the Reject suggestion, once", async () => {
    const card = (expectStatus(await hook(tokens.drA, hookRequest(ids.p1)), 200).body.cards as Json[])[0];
    expect(card.uuid).toBe(triage.id);
    const reject = card.suggestions[1];
    expectStatus(await feedback(tokens.drA, { feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: reject.uuid }], outcomeTimestamp: new Date().toISOString() }] }), 200);
    const task = await taskNow(triage.id);
    expect(task).toMatchObject({ status: 'rejected', owner: { reference: `Practitioner/${ids.drA}` }, statusReason: { text: expect.stringMatching(/CDS Hooks card/) } });
    const { rows } = await pg.query('SELECT approved_by_doctor, doctor_id FROM recommendations WHERE id = $1', [triage.id]);
    expect(rows[0]).toEqual({ approved_by_doctor: false, doctor_id: ids.drA });
    expect(expectStatus(await hook(tokens.drA, hookRequest(ids.p1)), 200).body.cards).toEqual([]);

    // Accepting it now contradicts the decision: 409. Overriding the card is only recorded.
    expectOutcome(await feedback(tokens.drA, { feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: card.suggestions[0].uuid }], outcomeTimestamp: new Date().toISOString() }] }), 409, /already decided \(rejected/);
    expectStatus(
      await feedback(tokens.drA, {
        feedback: [{ card: card.uuid, outcome: 'overridden', overrideReason: { reason: card.overrideReasons[0], userComment: 'seen already' }, outcomeTimestamp: new Date().toISOString() }],
      }),
      200,
    );
    const events = await waitFor('the override AuditEvent', async () => {
      const found = ((expectStatus(await api.search('AuditEvent', { entity: `Task/${triage.id}`, action: 'E' }), 200).body.entry ?? []) as Json[]).map((e) => e.resource);
      const overridden = found.filter((e) => e.entity[0].detail.some((d: Json) => d.valueString === 'overridden'));
      return overridden.length ? overridden : undefined;
    });
    const details = Object.fromEntries(events[0].entity[0].detail.map((d: Json) => [d.type, d.valueString]));
    expect(details).toMatchObject({ overrideReason: `${card.overrideReasons[0].system}|${card.overrideReasons[0].code}`, userComment: 'seen already' });
    expect((await taskNow(triage.id)).status).toBe('rejected');
  });
});
