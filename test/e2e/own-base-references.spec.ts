import { randomUUID } from 'node:crypto';
import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * A reference written as an absolute URL on this server's own base (`http://host/fhir/Patient/p1`)
 * names the same resource as `Patient/p1` (references.html): it is stored relative, so search,
 * _include, _has, compartments and ownership all see it. Other servers' URLs stay as written.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let t: TestApp;
let api: FhirRequest;
let base: string;

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  base = `${t.baseUrl}/fhir`;
});

afterAll(async () => {
  await t?.close();
});

const ids = (bundle: Json, type?: string): string[] =>
  (bundle.entry ?? [])
    .map((e: Json) => e.resource)
    .filter((r: Json) => !type || r.resourceType === type)
    .map((r: Json) => `${r.resourceType}/${r.id}`)
    .sort();

function observation(id: string, subject: string, extra: Json = {}): Json {
  return { resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: subject }, valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' }, ...extra };
}

describe('references to this server by absolute URL', () => {
  const p = `p-${randomUUID()}`;
  const o = `o-${randomUUID()}`;

  beforeAll(async () => {
    expect((await api.put(`Patient/${p}`, { resourceType: 'Patient', id: p, name: [{ family: 'Absolute' }] })).status).toBe(201);
    const res = await api.put(`Observation/${o}`, observation(o, `${base}/Patient/${p}`, { performer: [{ reference: `${base}/Patient/${p}/_history/1` }, { reference: 'http://other.example.org/fhir/Practitioner/ext1' }] }));
    expect(res.status).toBe(201);
  });

  it('are stored relative (a version kept); another server\'s URL is stored as written', async () => {
    const stored = (await api.get(`Observation/${o}`)).body as Json;
    expect(stored.subject.reference).toBe(`Patient/${p}`);
    expect(stored.performer.map((r: Json) => r.reference)).toEqual([`Patient/${p}/_history/1`, 'http://other.example.org/fhir/Practitioner/ext1']);
  });

  it('are found by search in every form, by _include, _has and the Patient compartment', async () => {
    for (const q of [`subject=Patient/${p}`, `subject=${p}`, `subject=${encodeURIComponent(`${base}/Patient/${p}`)}`, `patient=Patient/${p}`, `performer=Patient/${p}`]) {
      const res = await api.get(`Observation?${q}`);
      expect(res.status).toBe(200);
      expect(ids(res.body)).toEqual([`Observation/${o}`]);
    }
    const inc = await api.get(`Observation?_id=${o}&_include=Observation:subject`);
    expect(ids(inc.body)).toEqual([`Observation/${o}`, `Patient/${p}`]);
    const has = await api.get(`Patient?_has:Observation:subject:code=8867-4&_id=${p}`);
    expect(ids(has.body)).toEqual([`Patient/${p}`]);
    expect(ids((await api.get(`Patient/${p}/Observation`)).body)).toEqual([`Observation/${o}`]);
    expect(ids((await api.get(`Patient/${p}/$everything`)).body, 'Observation')).toEqual([`Observation/${o}`]);
  });

  it('are made relative in transactions, and an unchanged update of the absolute form stores no new version', async () => {
    const o2 = `o-${randomUUID()}`;
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: observation(o2, `${base}/Patient/${p}`), request: { method: 'PUT', url: `Observation/${o2}` } }] };
    const res = await api.post('', bundle);
    expect(res.status).toBe(200);
    expect((await api.get(`Observation/${o2}`)).body.subject.reference).toBe(`Patient/${p}`);
    const again = await api.put(`Observation/${o2}`, observation(o2, `${base}/Patient/${p}`));
    expect(again.status).toBe(200);
    expect(again.body.meta.versionId).toBe('1');
  });
});
