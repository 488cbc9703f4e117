import request from 'supertest';
import { expectStatus, type FhirApi, type Json } from './fhir-api';
import { fetchToken, type TestApp } from './test-app';
import { waitFor } from './wait-for';
import { CAD, quantity } from './ai-fixtures';

/**
 * Real AI recommendations for the approval and CDS Hooks suites: FHIR data that makes the worker's
 * models raise them (a high-risk coronary heart disease profile; critical vital signs triaged on
 * request), and clients of each role.
 */
export const RECOMMENDATION_CODE = 'urn:fhir-ai-server:ai-task|recommendation';
const VITAL_SIGNS = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }];




/** A CAD Condition: the worker scores it and, above the threshold, raises a recommendation. */
export async function cadCondition(api: FhirApi, patientId: string): Promise<Json> {
  return api.created({ resourceType: 'Condition', subject: { reference: `Patient/${patientId}` }, code: { coding: [CAD] } });
}

/** Critical vital signs (outside an emergency encounter: nothing runs until asked) and a triage on request. */
export async function urgentTriage(t: TestApp, api: FhirApi, patientId: string): Promise<void> {
  for (const [code, value, unit] of [
    ['9279-1', 32, '/min'],
    ['59408-5', 85, '%'],
    ['8480-6', 85, 'mm[Hg]'],
    ['8867-4', 140, '/min'],
    ['8310-5', 39.8, 'Cel'],
  ] as Array<[string, number, string]>) {
    await api.created({ ...quantity(patientId, code, value, unit), category: VITAL_SIGNS });
  }
  const res = await request(t.app.getHttpServer()).post(`/fhir/Patient/${patientId}/$triage`).set('Authorization', `Bearer ${t.token}`);
  expectStatus(res, 202);
}

/** Waits until the patient has `n` recommendation Tasks, and returns them. */
export async function recommendationTasks(api: FhirApi, patientId: string, n: number, timeoutMs = 45000): Promise<Json[]> {
  return waitFor(
    `${n} recommendation(s) for Patient/${patientId}`,
    async () => {
      const res = expectStatus(await api.search('Task', { code: RECOMMENDATION_CODE, patient: `Patient/${patientId}`, _count: '50' }), 200);
      const tasks = ((res.body.entry ?? []) as Json[]).map((e) => e.resource as Json);
      return tasks.length >= n ? tasks : undefined;
    },
    timeoutMs,
    250,
  );
}

/** A client of the role (bound as given) and a token for it. */
export async function clientToken(t: TestApp, body: Json): Promise<{ clientId: string; token: string }> {
  const res = await request(t.app.getHttpServer()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).send(body);
  expectStatus(res, 201);
  return { clientId: res.body.client_id, token: await fetchToken(t.app, res.body.client_id, res.body.client_secret) };
}

/** A client of the role (bound as given) and tokens for it narrowed to each of `scopes` (the token request's `scope` field). */
export async function narrowedTokens(t: TestApp, body: Json, scopes: string[]): Promise<string[]> {
  const made = await request(t.app.getHttpServer()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).send(body);
  expectStatus(made, 201);
  const tokens: string[] = [];
  for (const scope of scopes) {
    const res = await request(t.app.getHttpServer())
      .post('/auth/token')
      .type('form')
      .send({ grant_type: 'client_credentials', client_id: made.body.client_id, client_secret: made.body.client_secret, scope });
    expectStatus(res, 200);
    expect(res.body.scope).toBe(scope);
    tokens.push(res.body.access_token as string);
  }
  return tokens;
}
