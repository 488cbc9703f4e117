import { randomUUID } from 'node:crypto';
import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * _include and _revinclude through canonical references (QuestionnaireResponse.questionnaire names
 * its Questionnaire by url, with or without |version), as the CapabilityStatement declares them.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let t: TestApp;
let api: FhirRequest;

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
});

afterAll(async () => {
  await t?.close();
});

const entries = (bundle: Json, mode: string): string[] =>
  (bundle.entry ?? [])
    .filter((e: Json) => e.search?.mode === mode)
    .map((e: Json) => `${e.resource.resourceType}/${e.resource.id}`)
    .sort();

describe('canonical references in _include and _revinclude', () => {
  const tag = randomUUID();
  const url = `http://example.org/fhir/Questionnaire/${tag}`;
  const [q, other, a, b, c] = ['q', 'other', 'a', 'b', 'c'].map((x) => `${x}-${tag}`);

  beforeAll(async () => {
    const questionnaire = (id: string, u: string) => ({ resourceType: 'Questionnaire', id, url: u, version: '2', status: 'active', item: [{ linkId: '1', text: 'How are you?', type: 'string' }] });
    const response = (id: string, canonical: string) => ({ resourceType: 'QuestionnaireResponse', id, questionnaire: canonical, status: 'completed' });
    for (const r of [questionnaire(q, url), questionnaire(other, `${url}-other`), response(a, url), response(b, `${url}|2`), response(c, `${url}-other`)]) {
      expect((await api.put(`${r.resourceType}/${r.id}`, r)).status).toBe(201);
    }
  });

  it('_include follows the canonical (with and without |version) to the Questionnaire, once', async () => {
    const res = await api.get(`QuestionnaireResponse?_id=${a},${b}&_include=QuestionnaireResponse:questionnaire`);
    expect(res.status).toBe(200);
    expect(entries(res.body, 'match')).toEqual([`QuestionnaireResponse/${a}`, `QuestionnaireResponse/${b}`]);
    expect(entries(res.body, 'include')).toEqual([`Questionnaire/${q}`]);
    const all = await api.get(`QuestionnaireResponse?_id=${a},${c}&_include=*`);
    expect(entries(all.body, 'include')).toEqual([`Questionnaire/${q}`, `Questionnaire/${other}`].sort());
  });

  it('_revinclude finds the responses that name the Questionnaire by its url', async () => {
    const res = await api.get(`Questionnaire?_id=${q}&_revinclude=QuestionnaireResponse:questionnaire`);
    expect(entries(res.body, 'match')).toEqual([`Questionnaire/${q}`]);
    expect(entries(res.body, 'include')).toEqual([`QuestionnaireResponse/${a}`, `QuestionnaireResponse/${b}`].sort());
    // Not the server's own AuditEvents of the writes above, which name the Questionnaire too: `*` leaves them out.
    await new Promise((r) => setTimeout(r, 400)); // they are stored within 200 ms
    expect(entries((await api.get(`Questionnaire?_id=${other}&_revinclude=*`)).body, 'include')).toEqual([`QuestionnaireResponse/${c}`]);
    expect(entries((await api.get(`Questionnaire?_id=${other}&_revinclude=AuditEvent:entity`)).body, 'include').length).toBeGreaterThan(0);
  });
});
