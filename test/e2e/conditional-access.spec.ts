import request from 'supertest';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import type { Json } from '../helpers/fhir-api';
import { labObservation, patient } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Conditional criteria (If-None-Exist, PUT/DELETE/PATCH [type]?criteria, a bundle entry's
 * ifNoneExist and conditional references) are searches, held to the token's search scopes as
 * GET [type]?criteria is: a token that may not search Patients cannot learn a birth date by
 * whether a conditional create matched, nor resolve `Patient?name=...` into an id.
 */

let t: TestApp;
let admin: FhirRequest;
/** system/Observation.cruds only. */
let obsOnly: FhirRequest;
/** system/Observation.cud: may write Observations but not search them. */
let obsNoSearch: FhirRequest;
/** system/Observation.cruds system/Patient.rs: the control. */
let obsAndPatients: FhirRequest;
let patientId: string;
let obsId: string;

async function token(clientId: string, secret: string, scope: string): Promise<FhirRequest> {
  const res = await request(t.app.getHttpServer()).post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope });
  if (res.status !== 200) throw new Error(`token for ${scope}: ${res.status} ${JSON.stringify(res.body)}`);
  expect(res.body.scope).toBe(scope);
  return FhirRequest.of(t, res.body.access_token as string);
}

beforeAll(async () => {
  t = await startTestApp();
  admin = FhirRequest.of(t);
  patientId = (await admin.post('Patient', patient({ family: 'Little', birthDate: '1960-05-01' }))).body.id;
  obsId = (await admin.post('Observation', labObservation(patientId))).body.id;
  const ehr = await request(t.app.getHttpServer()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send('{"role":"ehr-system"}');
  obsOnly = await token(ehr.body.client_id, ehr.body.client_secret, 'system/Observation.cruds');
  obsNoSearch = await token(ehr.body.client_id, ehr.body.client_secret, 'system/Observation.cud');
  obsAndPatients = await token(ehr.body.client_id, ehr.body.client_secret, 'system/Observation.cruds system/Patient.rs');
});

afterAll(async () => {
  await t?.close();
});

const observation = (subject: string): Json => labObservation(patientId, { subject: { reference: subject } });
const count = async () => (await admin.get('Observation?_summary=count')).body.total as number;

describe('conditional criteria need the search scopes a search would', () => {
  it('If-None-Exist with a chain into Patient is 403 whatever the birth date (no oracle), as the search itself is, and stores nothing', async () => {
    expectOutcome(await obsOnly.get('Observation?subject:Patient.name=Little'), 403);
    const before = await count();
    for (const criteria of [`_id=${obsId}&subject:Patient.birthdate=ge1950`, `_id=${obsId}&subject:Patient.birthdate=lt1950`, 'subject:Patient.name=Little']) {
      const res = await obsOnly.post('Observation', observation(`Patient/${patientId}`)).set('If-None-Exist', criteria);
      expectOutcome(res, 403);
    }
    expect(await count()).toBe(before);
    // With Patient search scope, the same criteria are answered as usual.
    expect((await obsAndPatients.post('Observation', observation(`Patient/${patientId}`)).set('If-None-Exist', `_id=${obsId}&subject:Patient.birthdate=ge1950`)).status).toBe(200);
  });

  it('conditional update, delete and patch with a chain into Patient are 403', async () => {
    expectOutcome(await obsOnly.put('Observation?subject:Patient.name=Little', observation(`Patient/${patientId}`)), 403);
    expectOutcome(await obsOnly.delete('Observation?subject:Patient.name=Little'), 403);
    expectOutcome(await obsOnly.patch('Observation?subject:Patient.name=Little', [{ op: 'replace', path: '/status', value: 'amended' }]), 403);
    expect((await admin.get(`Observation/${obsId}`)).body.status).toBe('final');
  });

  it('a conditional reference to a type the token may not search is 403, in a transaction and in a batch entry', async () => {
    const before = await count();
    const entry = { resource: observation('Patient?name=Little'), request: { method: 'POST', url: 'Observation' } };
    expectOutcome(await obsOnly.post('', { resourceType: 'Bundle', type: 'transaction', entry: [entry] }), 403);
    const batch = await obsOnly.post('', { resourceType: 'Bundle', type: 'batch', entry: [entry, entry] });
    expect(batch.status).toBe(200);
    expect((batch.body.entry as Json[]).map((e) => e.response.status)).toEqual(['403', '403']);
    expect(await count()).toBe(before);
    const allowed = await obsAndPatients.post('', { resourceType: 'Bundle', type: 'transaction', entry: [entry] });
    expect(allowed.status).toBe(200);
  });

  it('criteria on the written type itself need search permission on it', async () => {
    expectOutcome(await obsNoSearch.post('Observation', observation(`Patient/${patientId}`)).set('If-None-Exist', `_id=${obsId}`), 403);
    expectOutcome(await obsNoSearch.delete(`Observation?_id=${obsId}`), 403);
    expect((await obsNoSearch.post('Observation', observation(`Patient/${patientId}`))).status).toBe(201);
  });
});
