import request from 'supertest';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Ids in request paths that are not FHIR ids ([A-Za-z0-9.-], 1-64 characters) never reach SQL: a
 * NUL or another control character, or an over-long id, is a 400 OperationOutcome; an id that is
 * merely not a FHIR id is 404 on reads (as for any unknown id) and 400 on writes. Before, a NUL
 * reached PostgreSQL, which refuses it in text: 500.
 */

let t: TestApp;
let admin: FhirRequest;

beforeAll(async () => {
  t = await startTestApp();
  admin = FhirRequest.of(t);
});

afterAll(async () => {
  await t?.close();
});

const NUL = '%00';
const LONG = 'a'.repeat(65);
const ODD = 'a%20b'; // a space: not a FHIR id, nothing can be stored under it

describe('ids that are not FHIR ids', () => {
  it('a NUL, a control character or an over-long id is 400 on every interaction', async () => {
    for (const id of [NUL, `x${NUL}y`, '%0A', LONG]) {
      for (const [what, res] of [
        ['read', admin.get(`Patient/${id}`)],
        ['vread', admin.get(`Patient/${id}/_history/1`)],
        ['history', admin.get(`Patient/${id}/_history`)],
        ['$everything', admin.get(`Patient/${id}/$everything`)],
        ['compartment search', admin.get(`Patient/${id}/Observation`)],
        ['update', admin.put(`Patient/${id}`, { resourceType: 'Patient' })],
        ['delete', admin.delete(`Patient/${id}`)],
        ['patch', admin.patch(`Patient/${id}`, [{ op: 'replace', path: '/active', value: true }])],
        ['$validate', admin.post(`Patient/${id}/$validate`, { resourceType: 'Patient' })],
        ['Group $export', admin.get(`Group/${id}/$export`).set('Prefer', 'respond-async')],
      ] as const) {
        const answer = await res;
        expect([what, id, answer.status]).toEqual([what, id, 400]);
        expect(answer.body.resourceType).toBe('OperationOutcome');
      }
    }
  });

  it('an id that is merely not a FHIR id: 404 on reads, 400 on writes', async () => {
    expectOutcome(await admin.get(`Patient/${ODD}`), 404);
    expectOutcome(await admin.get(`Patient/${ODD}/_history`), 404);
    expectOutcome(await admin.get(`Patient/${ODD}/$everything`), 404);
    expectOutcome(await admin.delete(`Patient/${ODD}`), 400);
    expectOutcome(await admin.put(`Patient/${ODD}`, { resourceType: 'Patient' }), 400);
  });

  it('the clients API answers 404 for a client id with a NUL', async () => {
    const res = await request(t.app.getHttpServer()).post(`/api/clients/${NUL}/rotate`).set('Authorization', `Bearer ${t.token}`);
    expectOutcome(res, 404);
    const del = await request(t.app.getHttpServer()).delete(`/api/clients/${NUL}`).set('Authorization', `Bearer ${t.token}`);
    expectOutcome(del, 404);
  });
});
