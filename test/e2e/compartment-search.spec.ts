import { randomUUID } from 'node:crypto';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Compartment search by the R4 CompartmentDefinition: a resource is in Patient X's compartment
 * when any of its type's compartment parameters refers to X (an Observation by subject or by
 * performer), not only when X owns it. The Synthea-based cases live in search.spec.ts.
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

const refs = (bundle: Json): string[] =>
  (bundle.entry ?? [])
    .filter((e: Json) => e.search?.mode === 'match')
    .map((e: Json) => `${e.resource.resourceType}/${e.resource.id}`)
    .sort();

async function put(resource: Json): Promise<string> {
  const res = await api.put(`${resource.resourceType}/${resource.id}`, resource);
  expect(res.status).toBe(201);
  return `${resource.resourceType}/${resource.id}`;
}

describe('Patient/{id}/{type} follows every compartment parameter', () => {
  const id = () => `c-${randomUUID()}`;
  const [ann, bob, carl] = [id(), id(), id()];
  const obs = { subjectAnnPerformerBob: id(), subjectBob: id(), noSubjectPerformerCarl: id(), subjectAnn: id() };
  const code = { coding: [{ system: 'urn:compartment-spec', code: 'x' }] };

  beforeAll(async () => {
    for (const p of [ann, bob, carl]) await put({ resourceType: 'Patient', id: p, name: [{ family: p }] });
    await put({ resourceType: 'Observation', id: obs.subjectAnnPerformerBob, status: 'final', code, subject: { reference: `Patient/${ann}` }, performer: [{ reference: `Patient/${bob}` }] });
    await put({ resourceType: 'Observation', id: obs.subjectBob, status: 'final', code, subject: { reference: `Patient/${bob}` } });
    // No subject: a shared resource, in Carl's compartment through its performer.
    await put({ resourceType: 'Observation', id: obs.noSubjectPerformerCarl, status: 'final', code, performer: [{ reference: `Patient/${carl}` }] });
    await put({ resourceType: 'Observation', id: obs.subjectAnn, status: 'final', code: { text: 'other' }, subject: { reference: `Patient/${ann}` } });
    // Bob linked to Ann: Bob's Patient is in Ann's compartment (Patient's compartment parameter is link).
    const linked = await api.put(`Patient/${bob}`, { resourceType: 'Patient', id: bob, name: [{ family: bob }], link: [{ other: { reference: `Patient/${ann}` }, type: 'seealso' }] });
    expect(linked.status).toBe(200);
  });

  it('an Observation is in the compartments of its subject and of its performer', async () => {
    expect(refs((await api.get(`Patient/${ann}/Observation`)).body)).toEqual([`Observation/${obs.subjectAnnPerformerBob}`, `Observation/${obs.subjectAnn}`].sort());
    expect(refs((await api.get(`Patient/${bob}/Observation`)).body)).toEqual([`Observation/${obs.subjectAnnPerformerBob}`, `Observation/${obs.subjectBob}`].sort());
    expect(refs((await api.get(`Patient/${carl}/Observation`)).body)).toEqual([`Observation/${obs.noSubjectPerformerCarl}`]);
  });

  it('parameters still apply, and Patient/{id}/* holds the Patient itself and what links to it', async () => {
    expect(refs((await api.get(`Patient/${ann}/Observation?code=urn:compartment-spec|x`)).body)).toEqual([`Observation/${obs.subjectAnnPerformerBob}`]);
    const all = refs((await api.get(`Patient/${ann}/*?_count=100`)).body);
    expect(all).toEqual([`Observation/${obs.subjectAnnPerformerBob}`, `Observation/${obs.subjectAnn}`, `Patient/${ann}`, `Patient/${bob}`].sort());
    expect(refs((await api.get(`Patient/${carl}/*`)).body)).toEqual([`Observation/${obs.noSubjectPerformerCarl}`, `Patient/${carl}`].sort());
  });

  it('a type outside the compartment is still a 400', async () => {
    expectOutcome(await api.get(`Patient/${ann}/Organization`), 400);
  });
});
