import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * A date parameter repeated (`date=ge..&date=lt..`) is an AND of its clauses. Where the parameter
 * has at most one value per resource (Observation.effective) the server tests both clauses on the
 * one index row; where it may have several (AllergyIntolerance.reaction.onset) each clause may be
 * met by a different value. Either way a resource matches both clauses exactly when it matches each:
 * checked here against the server's own single-clause answers, and against values worked out by hand.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ACTIVE = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] };
let t: TestApp;
let api: FhirRequest;

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  const obs = (id: string, effective: Json): Json => ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'urn:rd', code: 'x' }] }, ...effective });
  for (const r of [
    { resourceType: 'Patient', id: 'rd-p' },
    obs('rd-o1', { effectiveDateTime: '2020-03-15' }),
    obs('rd-o2', { effectivePeriod: { start: '2019-12-20', end: '2020-01-10' } }),
    obs('rd-o3', { effectiveDateTime: '2021-06-01T10:00:00Z' }),
    obs('rd-o4', {}),
    obs('rd-o5', { effectiveDateTime: '2020' }),
    obs('rd-o6', { effectivePeriod: { start: '2018-01-01' } }), // open-ended
    { resourceType: 'AllergyIntolerance', id: 'rd-a1', clinicalStatus: ACTIVE, patient: { reference: 'Patient/rd-p' }, code: { coding: [{ system: 'urn:rd', code: 'x' }] }, reaction: [{ manifestation: [{ text: 'rash' }], onset: '2010-05-01' }, { manifestation: [{ text: 'rash' }], onset: '2020-05-01' }] },
    { resourceType: 'AllergyIntolerance', id: 'rd-a2', clinicalStatus: ACTIVE, patient: { reference: 'Patient/rd-p' }, code: { coding: [{ system: 'urn:rd', code: 'x' }] }, reaction: [{ manifestation: [{ text: 'rash' }], onset: '2015-05-01' }] },
  ]) {
    const res = await api.put(`${r.resourceType}/${r.id}`, r);
    if (res.status !== 201 && res.status !== 200) throw new Error(`PUT ${r.resourceType}/${r.id}: ${res.status} ${JSON.stringify(res.body)}`);
  }
}, 120_000);

afterAll(async () => {
  await t?.close();
});

async function ids(query: string): Promise<string[]> {
  const res = await api.get(`${query}&_count=100`);
  expect([query, res.status]).toEqual([query, 200]);
  return ((res.body.entry ?? []) as Json[]).filter((e) => e.search?.mode === 'match').map((e) => e.resource.id as string).sort();
}

const both = async (type: string, a: string, b: string) => {
  const [ab, onlyA, onlyB] = await Promise.all([ids(`${type}?code=urn:rd|x&${a}&${b}`), ids(`${type}?code=urn:rd|x&${a}`), ids(`${type}?code=urn:rd|x&${b}`)]);
  return { ab, intersection: onlyA.filter((id) => onlyB.includes(id)) };
};

describe('a repeated date parameter of one value per resource (Observation date)', () => {
  it('matches what both clauses match, worked out by hand', async () => {
    // [2020-01-01, 2021-01-01) overlapped: the day, the period across new year, the year 2020, the open period.
    expect(await ids('Observation?code=urn:rd|x&date=ge2020-01-01&date=lt2021-01-01')).toEqual(['rd-o1', 'rd-o2', 'rd-o5', 'rd-o6']);
    // Alternatives inside a clause are ORed before the clauses are ANDed.
    expect(await ids('Observation?code=urn:rd|x&date=lt2020-01-01,gt2021-01-01&date=ge2019-06-01')).toEqual(['rd-o2', 'rd-o3', 'rd-o6']);
    expect(await ids('Observation?code=urn:rd|x&date=gt2019-01-01&date=lt2019-06-01')).toEqual(['rd-o6']);
    expect(await ids('Observation?code=urn:rd|x&date=ge2020-03-15&date=le2020-03-15&date=ne2020-03-16')).toEqual(['rd-o1', 'rd-o5', 'rd-o6']);
  });

  it.each([
    ['date=ge2020-01-01', 'date=lt2021-01-01'],
    ['date=sa2019-12-31', 'date=eb2021'],
    ['date=gt2020-01-05', 'date=lt2020-01-05'],
    ['date=ne2020', 'date=ge2019'],
    ['date=ap2020-03', 'date=le2020-12'],
  ])('%s & %s: exactly what each clause matches on its own', async (a, b) => {
    const { ab, intersection } = await both('Observation', a, b);
    expect(ab).toEqual(intersection);
  });

  it('refuses a malformed date in any clause with a 400 OperationOutcome', async () => {
    const res = await api.get('Observation?code=urn:rd|x&date=ge2020-01-01&date=lt2021-13-45');
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(res.body)).toMatch(/not a FHIR date/);
  });
});

describe('a repeated date parameter of several values per resource (AllergyIntolerance onset)', () => {
  it('lets each clause be met by a different value', async () => {
    // rd-a1 had a reaction before 2011 and another after 2019; rd-a2 one in 2015.
    expect(await ids('AllergyIntolerance?code=urn:rd|x&onset=lt2011&onset=gt2019')).toEqual(['rd-a1']);
    const { ab, intersection } = await both('AllergyIntolerance', 'onset=lt2016', 'onset=gt2014');
    expect(ab).toEqual(['rd-a1', 'rd-a2']);
    expect(ab).toEqual(intersection);
  });
});
