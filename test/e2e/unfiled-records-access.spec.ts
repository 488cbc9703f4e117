import request from 'supertest';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import type { Json } from '../helpers/fhir-api';
import { US_SSN_SYSTEM, labObservation, patient } from '../helpers/resources';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Patient records filed under no patient: an Observation whose subject is a logical reference by
 * identifier, a display only, or another server's Patient is stored (lab feeds send them) but
 * belongs to no compartment, so no patient-context token sees it, by any way in (reads, vreads,
 * history, searches and their totals, _include, _revinclude, chains, _has, bundle entries,
 * $everything). References that name nothing (a bare id) and conditional references outside a
 * bundle are refused when written. Totals of a patient token count only what it is shown.
 */

let t: TestApp;
let admin: FhirRequest;
let ehr: FhirRequest;
let asA: FhirRequest;

const SSN_B = '999-52-9302';
const ids = {} as Record<'a' | 'b' | 'bySsn' | 'byDisplay' | 'remote' | 'focusA' | 'reportA' | 'orgExtB', string>;
const hiv = (subject: Json, o: Json = {}): Json => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'HIV viral load' },
  subject,
  valueString: 'positive',
  ...o,
});

const server = () => t.app.getHttpServer();

async function created(api: FhirRequest, resource: Json): Promise<string> {
  const res = await api.post(resource.resourceType as string, resource);
  if (res.status !== 201) throw new Error(`create ${resource.resourceType} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

async function newClient(body: Json): Promise<{ client_id: string; client_secret: string }> {
  const res = await request(server()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
  if (res.status !== 201) throw new Error(`POST /api/clients answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function found(api: FhirRequest, path: string, mode: 'match' | 'include' = 'match'): Promise<{ refs: string[]; total: number | undefined }> {
  const res = await api.get(path);
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  const refs = ((res.body.entry ?? []) as Json[]).filter((e) => e.search?.mode === mode).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
  return { refs: refs.sort(), total: res.body.total as number | undefined };
}

beforeAll(async () => {
  t = await startTestApp();
  admin = FhirRequest.of(t);
  ids.a = await created(admin, patient({ family: 'Alphaunfiled' }));
  ids.b = await created(admin, patient({ family: 'Carmona', given: 'Antonio', ssn: SSN_B, birthDate: '2000-10-22' }));
  const ehrClient = await newClient({ role: 'ehr-system' });
  ehr = FhirRequest.of(t, await fetchToken(t.app, ehrClient.client_id, ehrClient.client_secret));
  ids.bySsn = await created(ehr, hiv({ identifier: { system: US_SSN_SYSTEM, value: SSN_B }, display: 'Antonio Carmona' }));
  ids.byDisplay = await created(ehr, hiv({ display: 'Antonio Carmona, DOB 2000-10-22' }));
  ids.remote = await created(ehr, hiv({ reference: 'https://other-hospital.example/fhir/Patient/123' }));
  // Filed under no patient, and its only Patient reference (focus, no compartment parameter) is A.
  ids.focusA = await created(ehr, hiv({ display: 'unknown' }, { focus: [{ reference: `Patient/${ids.a}` }] }));
  // A type outside the compartment that names B only in an extension: hidden by its content alone.
  ids.orgExtB = await created(admin, {
    resourceType: 'Organization',
    name: 'Unfiledtest Clinic',
    extension: [{ url: 'http://example.org/fhir/StructureDefinition/about', valueReference: { reference: `Patient/${ids.b}` } }],
  });
  ids.reportA = await created(ehr, {
    resourceType: 'DiagnosticReport',
    status: 'final',
    code: { text: 'HIV panel' },
    subject: { reference: `Patient/${ids.a}` },
    result: [{ reference: `Observation/${ids.bySsn}` }],
    performer: [{ reference: `Organization/${ids.orgExtB}` }],
  });
  await created(admin, { resourceType: 'Organization', name: 'Unfiledtest Lab' });
  const patientA = await newClient({ role: 'patient', patient: `Patient/${ids.a}` });
  asA = FhirRequest.of(t, await fetchToken(t.app, patientA.client_id, patientA.client_secret));
});

afterAll(async () => {
  await t?.close();
});

describe('writing references', () => {
  it('a bare id is refused with 400, with or without Reference.type, on create, update and patch; nothing is stored', async () => {
    const before = await found(admin, 'Observation?code:text=HIV&_summary=count');
    expectOutcome(await ehr.post('Observation', hiv({ reference: ids.b, type: 'Patient' })), 400, /Observation\.subject\.reference/);
    expectOutcome(await ehr.post('Observation', hiv({ reference: SSN_B })), 400);
    expectOutcome(await ehr.put(`Observation/${ids.bySsn}`, hiv({ reference: ids.b, type: 'Patient' }, { id: ids.bySsn })), 400);
    expectOutcome(await ehr.patch(`Observation/${ids.bySsn}`, [{ op: 'add', path: '/performer', value: [{ reference: ids.b }] }]), 400, /performer/);
    expect((await found(admin, 'Observation?code:text=HIV&_summary=count')).total).toBe(before.total);
    expect((await admin.get(`Observation/${ids.bySsn}`)).body.meta.versionId).toBe('1');
  });

  it('a conditional reference is refused outside a bundle (create, conditional create, update), and resolved inside a transaction', async () => {
    const conditional = hiv({ reference: `Patient?identifier=${US_SSN_SYSTEM}|${SSN_B}` });
    for (const res of [
      await ehr.post('Observation', conditional),
      await ehr.post('Observation', conditional).set('If-None-Exist', 'code:text=nothing-like-this'),
      await ehr.put(`Observation/${ids.bySsn}`, { ...conditional, id: ids.bySsn }),
    ]) {
      expect(JSON.stringify(expectOutcome(res, 400, 'Observation.subject.reference'))).toContain('conditional reference');
    }
    expect((await found(admin, 'Observation?code:text=HIV&subject=Patient/' + ids.b)).refs).toEqual([]);
    const tx = await ehr.post('', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: conditional, request: { method: 'POST', url: 'Observation' } }] });
    expect(tx.status).toBe(200);
    const id = (tx.body.entry[0].response.location as string).split('/')[1];
    expect((await admin.get(`Observation/${id}`)).body.subject.reference).toBe(`Patient/${ids.b}`);
  });

  it('logical references by identifier stay allowed for EHRs and clinicians, who read them back', async () => {
    const read = await ehr.get(`Observation/${ids.bySsn}`);
    expect(read.status).toBe(200);
    expect(read.body.subject.identifier.value).toBe(SSN_B);
    expect((await found(ehr, 'Observation?code:text=HIV')).refs).toEqual(expect.arrayContaining([`Observation/${ids.bySsn}`, `Observation/${ids.byDisplay}`, `Observation/${ids.remote}`]));
  });
});

describe('a patient token and records filed under no patient', () => {
  it('reads, vreads and instance history answer 404', async () => {
    for (const id of [ids.bySsn, ids.byDisplay, ids.remote, ids.focusA]) {
      for (const path of [`Observation/${id}`, `Observation/${id}/_history/1`, `Observation/${id}/_history`]) {
        expect([path, (await asA.get(path)).status]).toEqual([path, 404]);
      }
    }
  });

  it('searches neither find nor count them, by code, by _id, by the subject they name, at system level', async () => {
    expect(await found(asA, 'Observation?code:text=HIV')).toEqual({ refs: [], total: 0 });
    expect((await found(asA, 'Observation?code:text=HIV&_summary=count')).total).toBe(0);
    expect(await found(asA, `Observation?_id=${ids.bySsn},${ids.focusA}`)).toEqual({ refs: [], total: 0 });
    expect((await found(asA, 'Observation?subject=https://other-hospital.example/fhir/Patient/123&code:text=HIV&_summary=count')).total).toBe(0);
    expect((await found(asA, `Observation?focus=Patient/${ids.a}`)).refs).toEqual([]);
    expect((await found(asA, '/fhir?_type=Observation,DiagnosticReport&_count=100')).refs).toEqual([`DiagnosticReport/${ids.reportA}`]);
    // The administrator finds what the patient does not: the searches are not simply empty.
    expect((await found(admin, `Observation?_id=${ids.bySsn},${ids.focusA}`)).total).toBe(2);
  });

  it('_include, _revinclude, chains and _has do not reach them', async () => {
    expect((await found(asA, `DiagnosticReport?_id=${ids.reportA}&_include=DiagnosticReport:result`, 'include')).refs).toEqual([]);
    expect((await found(admin, `DiagnosticReport?_id=${ids.reportA}&_include=DiagnosticReport:result`, 'include')).refs).toEqual([`Observation/${ids.bySsn}`]);
    expect((await found(asA, `Patient?_id=${ids.a}&_revinclude=Observation:focus`, 'include')).refs).toEqual([]);
    expect((await found(admin, `Patient?_id=${ids.a}&_revinclude=Observation:focus`, 'include')).refs).toEqual([`Observation/${ids.focusA}`]);
    expect((await found(asA, 'DiagnosticReport?result.code:text=HIV')).refs).toEqual([]);
    expect((await found(admin, 'DiagnosticReport?result.code:text=HIV')).refs).toEqual([`DiagnosticReport/${ids.reportA}`]);
    expect((await found(asA, 'Patient?_has:Observation:focus:code:text=HIV')).refs).toEqual([]);
    expect((await found(admin, 'Patient?_has:Observation:focus:code:text=HIV')).refs).toEqual([`Patient/${ids.a}`]);
  });

  it('bundle GET entries answer 404 and their searches are empty', async () => {
    const res = await asA.post('', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: `Observation/${ids.bySsn}` } }, { request: { method: 'GET', url: 'Observation?code:text=HIV' } }, { request: { method: 'GET', url: `DiagnosticReport/${ids.reportA}` } }],
    });
    expect(res.status).toBe(200);
    expect((res.body.entry as Json[]).map((e) => e.response.status.split(' ')[0])).toEqual(['404', '200', '200']);
    expect(res.body.entry[1].resource.total).toBe(0);
  });

  it("$everything of A leaves out the unfiled Observation its DiagnosticReport points at, and counts only what it shows", async () => {
    const res = await asA.get(`Patient/${ids.a}/$everything?_count=1000`);
    expect(res.status).toBe(200);
    const refs = (res.body.entry as Json[]).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    expect(refs).toContain(`DiagnosticReport/${ids.reportA}`);
    expect(refs).not.toContain(`Observation/${ids.bySsn}`);
    // The Organization naming B in an extension is left out, and not counted either.
    expect(refs).not.toContain(`Organization/${ids.orgExtB}`);
    expect(res.body.total).toBe(refs.length);
  });
});

describe('totals of a patient token', () => {
  it('count only what it is shown: a shared resource hidden by its content alone is not counted', async () => {
    expect(await found(asA, 'Organization?name=Unfiledtest')).toEqual({ refs: expect.any(Array), total: 1 });
    expect((await found(asA, 'Organization?name=Unfiledtest')).refs).toHaveLength(1);
    expect((await found(asA, 'Organization?name=Unfiledtest&_summary=count')).total).toBe(1);
    expect((await found(admin, 'Organization?name=Unfiledtest&_summary=count')).total).toBe(2);
    // Paging agrees: a page of one holds the one it may see, and there is no next page.
    const page = await asA.get('Organization?name=Unfiledtest&_count=1');
    expect((page.body.entry as Json[]).map((e) => e.resource.id)).not.toContain(ids.orgExtB);
    expect((page.body.link as Json[]).some((l) => l.relation === 'next')).toBe(false);
  });
});

describe('labObservation under A stays A’s', () => {
  it('an Observation filed under A is still found by A', async () => {
    const id = await created(ehr, labObservation(ids.a));
    expect((await asA.get(`Observation/${id}`)).status).toBe(200);
    expect((await found(asA, `Observation?_id=${id}`)).total).toBe(1);
  });
});
