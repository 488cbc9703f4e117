import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Patient/{id}/$everything brings the shared resources (Practitioners, Organizations) that the
 * compartment's current resources refer to: not those only an earlier version or a deleted
 * resource referred to, nor those only another patient's resources refer to; with start/end,
 * only those referred to by resources in range.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let t: TestApp;
let api: FhirRequest;

async function put(resource: Json): Promise<void> {
  const res = await api.put(`${resource.resourceType}/${resource.id}`, resource);
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${resource.resourceType}/${resource.id}: ${res.status} ${JSON.stringify(res.body)}`);
}

const obs = (id: string, patient: string, performer: string, when: string): Json => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { text: 'x' },
  subject: { reference: `Patient/${patient}` },
  performer: [{ reference: performer }],
  effectiveDateTime: when,
});

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  for (const id of ['es-d1', 'es-d2', 'es-d3', 'es-d4']) await put({ resourceType: 'Practitioner', id, name: [{ family: id }] });
  await put({ resourceType: 'Organization', id: 'es-org', name: 'Clinic' });
  await put({ resourceType: 'Patient', id: 'es-p', name: [{ family: 'P' }] });
  await put({ resourceType: 'Patient', id: 'es-q', name: [{ family: 'Q' }] });
  await put(obs('es-o1', 'es-p', 'Practitioner/es-d1', '2021-03-01'));
  await put(obs('es-o1', 'es-p', 'Practitioner/es-d3', '2021-03-01')); // a new version: d1 no longer referred to
  await put(obs('es-o2', 'es-p', 'Practitioner/es-d2', '2021-04-01'));
  expect((await api.delete('Observation/es-o2')).status).toBeLessThan(300); // d2 only by a deleted resource
  await put(obs('es-o3', 'es-q', 'Practitioner/es-d4', '2021-05-01')); // d4 only by another patient's
  await put({ resourceType: 'Encounter', id: 'es-e1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/es-p' }, serviceProvider: { reference: 'Organization/es-org' }, period: { start: '2020-01-01', end: '2020-01-02' } });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

async function shared(query: string): Promise<string[]> {
  const res = await api.get(query);
  expect(res.status).toBe(200);
  return (res.body.entry as Json[])
    .map((e) => `${e.resource.resourceType}/${e.resource.id}`)
    .filter((r) => r.startsWith('Practitioner/') || r.startsWith('Organization/'))
    .sort();
}

it('brings what current resources of the compartment refer to, and nothing else', async () => {
  expect(await shared('Patient/es-p/$everything?_count=100')).toEqual(['Organization/es-org', 'Practitioner/es-d3']);
  expect(await shared('Patient/es-q/$everything?_count=100')).toEqual(['Practitioner/es-d4']);
});

it('with start/end, only what resources in range refer to', async () => {
  expect(await shared('Patient/es-p/$everything?start=2021-01-01&_count=100')).toEqual(['Practitioner/es-d3']);
  expect(await shared('Patient/es-p/$everything?end=2020-12-31&_count=100')).toEqual(['Organization/es-org']);
});
