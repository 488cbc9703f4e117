import request from 'supertest';
import type { Response } from 'supertest';
import { FhirRequest, expectOutcome, linkPath } from '../helpers/fhir-request';
import type { Json } from '../helpers/fhir-api';
import { encounter, labObservation, patient, practitioner } from '../helpers/resources';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * The patient compartment and SMART scopes through search: a patient token for A finds A's
 * resources and those of no patient, never B's - not by a filter, an _include or _revinclude, a
 * chain, a reverse chain (_has), a system-level search or POST _search. AuditEvents are searchable
 * by administrators only, and a token without a scope for a type cannot search it.
 */

const FORM = 'application/x-www-form-urlencoded';
const B_CODE_SYSTEM = 'http://example.org/fhir/CodeSystem/local-tests';
const B_CODE = 'bravo-only-code';
const A_FAMILY = 'Alphafamily';
const B_FAMILY = 'Bravofamily';

let t: TestApp;
let admin: FhirRequest;
/** A's patient token. */
let asA: FhirRequest;

const ids = {} as {
  prac: string;
  a: string;
  b: string;
  aObs: string; // A's, performer the Practitioner
  aObsFocus: string; // A's, with focus on Patient B (a reference across compartments)
  bObs: string; // B's, with a code of its own and the same performer
  aEnc: string;
  bEnc: string;
  provA: string; // targets A's Observation
  provB: string; // targets B's Observation
};

const server = () => t.app.getHttpServer();

function tokenRequest(clientId: string, secret: string, scope?: string): request.Test {
  return request(server())
    .post('/auth/token')
    .type('form')
    .send({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, ...(scope ? { scope } : {}) });
}

/** Creates a client through the administrator API; returns its credentials. */
async function newClient(body: Json): Promise<{ client_id: string; client_secret: string }> {
  const res = await request(server()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
  if (res.status !== 201) throw new Error(`POST /api/clients answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A token for a client, narrowed to `scope`; checks that exactly that scope was granted. */
async function scopedToken(client: { client_id: string; client_secret: string }, scope: string): Promise<string> {
  const res = await tokenRequest(client.client_id, client.client_secret, scope);
  if (res.status !== 200) throw new Error(`token for ${scope} answered ${res.status}: ${JSON.stringify(res.body)}`);
  expect(res.body.scope).toBe(scope);
  return res.body.access_token as string;
}

async function created(resource: Json): Promise<string> {
  const res = await admin.post(resource.resourceType, resource);
  if (res.status !== 201) throw new Error(`create ${resource.resourceType} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

/** The search answered 200 with a searchset. */
function searchset(res: Response, what: string): Json {
  if (res.status !== 200 || res.body?.resourceType !== 'Bundle' || res.body.type !== 'searchset') {
    throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);
  }
  return res.body as Json;
}

/** `Type/id` of the entries of a searchset with the given mode. */
function refs(bundle: Json, mode: 'match' | 'include' | 'all' = 'all'): string[] {
  return ((bundle.entry ?? []) as Json[])
    .filter((e) => e.resource && e.search?.mode !== 'outcome' && (mode === 'all' || e.search?.mode === mode))
    .map((e) => `${e.resource.resourceType}/${e.resource.id}`);
}

const sorted = (a: string[]) => [...a].sort();

/** Runs a search, and returns the matches and the included resources (sorted). */
async function find(api: FhirRequest, path: string): Promise<{ match: string[]; include: string[]; total?: number; body: Json }> {
  const body = searchset(await api.get(path), `GET ${path}`);
  return { match: sorted(refs(body, 'match')), include: sorted(refs(body, 'include')), total: body.total, body };
}

/**
 * Nothing of B's compartment in a searchset: no entry is B, B's Observation or B's Encounter, and
 * no entry holds B's name or B's code (the links may: they repeat the query).
 */
function expectNothingOfB(body: Json): void {
  const bRefs = [`Patient/${ids.b}`, `Observation/${ids.bObs}`, `Encounter/${ids.bEnc}`];
  expect(refs(body).filter((r) => bRefs.includes(r))).toEqual([]);
  const entries = JSON.stringify(body.entry ?? []);
  expect(entries).not.toContain(B_FAMILY);
  expect(entries).not.toContain(B_CODE);
}

beforeAll(async () => {
  t = await startTestApp();
  admin = FhirRequest.of(t);
  ids.prac = await created(practitioner({ family: 'Sharedpractitioner' }));
  ids.a = await created(patient({ family: A_FAMILY, given: 'Ann', generalPractitioner: [{ reference: `Practitioner/${ids.prac}` }] }));
  ids.b = await created(patient({ family: B_FAMILY, given: 'Bob', generalPractitioner: [{ reference: `Practitioner/${ids.prac}` }] }));
  const performer = [{ reference: `Practitioner/${ids.prac}` }];
  ids.aObs = await created(labObservation(ids.a, { performer }));
  ids.aObsFocus = await created(labObservation(ids.a, { focus: [{ reference: `Patient/${ids.b}` }], effectiveDateTime: '2021-03-05T08:00:00Z' }));
  ids.bObs = await created(labObservation(ids.b, { performer, code: { coding: [{ system: B_CODE_SYSTEM, code: B_CODE }], text: 'Bravo only' } }));
  ids.aEnc = await created(encounter(ids.a, { participant: [{ individual: { reference: `Practitioner/${ids.prac}` } }] }));
  ids.bEnc = await created(encounter(ids.b, { participant: [{ individual: { reference: `Practitioner/${ids.prac}` } }] }));
  const provenance = (obs: string) => ({
    resourceType: 'Provenance',
    target: [{ reference: `Observation/${obs}` }],
    recorded: '2021-03-04T10:00:00Z',
    agent: [{ who: { reference: `Practitioner/${ids.prac}` } }],
  });
  ids.provA = await created(provenance(ids.aObs));
  ids.provB = await created(provenance(ids.bObs));
  const patientA = await newClient({ role: 'patient', patient: `Patient/${ids.a}` });
  asA = FhirRequest.of(t, await fetchToken(t.app, patientA.client_id, patientA.client_secret));
});

afterAll(async () => {
  await t?.close();
});

describe('the controls: the administrator sees both patients', () => {
  it("B's resources are found by the very searches that find nothing for A", async () => {
    expect((await find(admin, `Observation?subject=Patient/${ids.b}`)).match).toEqual([`Observation/${ids.bObs}`]);
    expect((await find(admin, `Observation?subject.name=${B_FAMILY}`)).match).toEqual([`Observation/${ids.bObs}`]);
    expect((await find(admin, `Observation?focus.name=${B_FAMILY}`)).match).toEqual([`Observation/${ids.aObsFocus}`]);
    expect((await find(admin, `Patient?_has:Observation:patient:code=${B_CODE}`)).match).toEqual([`Patient/${ids.b}`]);
    expect((await find(admin, `Practitioner?_has:Observation:performer:code=${B_CODE}`)).match).toEqual([`Practitioner/${ids.prac}`]);
    expect((await find(admin, `Practitioner?_has:Encounter:participant:subject=Patient/${ids.b}`)).match).toEqual([`Practitioner/${ids.prac}`]);
    expect((await find(admin, `Practitioner?_revinclude=Observation:performer`)).include).toEqual(sorted([`Observation/${ids.aObs}`, `Observation/${ids.bObs}`]));
    expect((await find(admin, `Observation?_id=${ids.aObsFocus}&_include=Observation:focus`)).include).toEqual([`Patient/${ids.b}`]);
    expect((await find(admin, `Provenance?_id=${ids.provB}&_include=Provenance:target`)).include).toEqual([`Observation/${ids.bObs}`]);
    expect((await find(admin, `Provenance?target:Observation.code=${B_CODE}`)).match).toEqual([`Provenance/${ids.provB}`]);
    expect((await find(admin, 'Patient')).match).toEqual(sorted([`Patient/${ids.a}`, `Patient/${ids.b}`]));
  });
});

describe("a patient token for A searches A's compartment only", () => {
  it("Observation? returns A's Observations only, with a total that counts them only", async () => {
    const all = await find(asA, 'Observation');
    expect(all.match).toEqual(sorted([`Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
    expect(all.total).toBe(2);
    expectNothingOfB(all.body);
    const count = searchset(await asA.get('Observation?_summary=count'), '_summary=count');
    expect(count.total).toBe(2);
    const encounters = await find(asA, 'Encounter');
    expect(encounters.match).toEqual([`Encounter/${ids.aEnc}`]);
  });

  it("compartment search: Patient/A/Observation is A's; Patient/B/... is 404 as B itself is", async () => {
    expect((await find(asA, `Patient/${ids.a}/Observation`)).match).toEqual(sorted([`Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
    expectOutcome(await asA.get(`Patient/${ids.b}/Observation`), 404);
    expectOutcome(await asA.get(`Patient/${ids.b}/*`), 404);
    expect((await find(admin, `Patient/${ids.b}/Observation`)).match).toEqual([`Observation/${ids.bObs}`]);
  });

  it('paging stays in the compartment', async () => {
    const first = searchset(await asA.get('Observation?_count=1&_total=accurate'), 'first page');
    expect(first.total).toBe(2);
    const seen = refs(first, 'match');
    let next = (first.link as Json[]).find((l) => l.relation === 'next');
    while (next) {
      const page = searchset(await asA.get(linkPath(next.url)), 'next page');
      expectNothingOfB(page);
      seen.push(...refs(page, 'match'));
      next = (page.link as Json[]).find((l) => l.relation === 'next');
      expect(seen.length).toBeLessThanOrEqual(2);
    }
    expect(sorted(seen)).toEqual(sorted([`Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
  });

  it("filters naming B find nothing: subject, patient, _id, B's code", async () => {
    for (const q of [
      `Observation?subject=Patient/${ids.b}`,
      `Observation?subject=${ids.b}`,
      `Observation?subject:Patient=${ids.b}`,
      `Observation?patient=${ids.b}`,
      `Observation?_id=${ids.bObs}`,
      `Observation?code=${B_CODE}`,
      `Observation?code=${encodeURIComponent(`${B_CODE_SYSTEM}|${B_CODE}`)}`,
      `Observation?code:text=${encodeURIComponent('Bravo only')}`,
      `Encounter?subject=Patient/${ids.b}`,
      `Encounter?_id=${ids.bEnc}`,
    ]) {
      const res = await find(asA, q);
      expect({ q, match: res.match, total: res.total }).toEqual({ q, match: [], total: 0 });
      expectNothingOfB(res.body);
    }
  });

  it('Patient? returns A only', async () => {
    const res = await find(asA, 'Patient');
    expect(res.match).toEqual([`Patient/${ids.a}`]);
    expect(res.total).toBe(1);
    expectNothingOfB(res.body);
    for (const q of [`Patient?_id=${ids.b}`, `Patient?family=${B_FAMILY}`, 'Patient?name=bravo', `Patient?_id=${ids.a},${ids.b}`, 'Patient?name:missing=false']) {
      const r = await find(asA, q);
      expect({ q, match: r.match }).toEqual({ q, match: q.includes(`${ids.a},`) || q.includes('missing') ? [`Patient/${ids.a}`] : [] });
      expectNothingOfB(r.body);
    }
  });

  it('_include never includes B, whichever reference leads to B', async () => {
    const subject = await find(asA, 'Observation?_include=Observation:subject');
    expect(subject.include).toEqual([`Patient/${ids.a}`]);
    expectNothingOfB(subject.body);
    // A's Observation refers to B through focus: B is still not included.
    for (const inc of ['Observation:focus', 'Observation:focus:Patient', 'Observation:*']) {
      const res = await find(asA, `Observation?_include=${inc}`);
      expect({ inc, hasB: res.include.includes(`Patient/${ids.b}`) }).toEqual({ inc, hasB: false });
      expectNothingOfB(res.body);
    }
    // Iterating from shared resources back into patients does not reach B either.
    const iterate = await find(asA, 'Observation?_include=Observation:performer&_revinclude:iterate=Observation:performer&_revinclude:iterate=Encounter:participant');
    expectNothingOfB(iterate.body);
    const fromProvenance = await find(asA, `Provenance?_include=Provenance:target`);
    expect(fromProvenance.include).not.toContain(`Observation/${ids.bObs}`);
    expectNothingOfB(fromProvenance.body);
    // A Provenance about B's Observation belongs with B: A does not even see it exists.
    expect(fromProvenance.match).not.toContain(`Provenance/${ids.provB}`);
    expect((await find(asA, `Provenance?target=Observation/${ids.bObs}`)).match).toEqual([]);
    expect((await find(admin, `Provenance?target=Observation/${ids.bObs}`)).match).toEqual([`Provenance/${ids.provB}`]);
  });

  it("_revinclude never includes B's resources", async () => {
    const obs = await find(asA, 'Patient?_revinclude=Observation:subject');
    expect(obs.match).toEqual([`Patient/${ids.a}`]);
    expect(obs.include).toEqual(sorted([`Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
    expectNothingOfB(obs.body);
    // From a shared Practitioner, both patients' resources point back to it: only A's come.
    const byPerformer = await find(asA, 'Practitioner?_revinclude=Observation:performer');
    expect(byPerformer.match).toEqual([`Practitioner/${ids.prac}`]);
    expect(byPerformer.include).toEqual([`Observation/${ids.aObs}`]);
    const byParticipant = await find(asA, 'Practitioner?_revinclude=Encounter:participant&_revinclude=Patient:general-practitioner');
    expect(byParticipant.include).toEqual(sorted([`Encounter/${ids.aEnc}`, `Patient/${ids.a}`]));
    expectNothingOfB(byParticipant.body);
    const everything = await find(asA, 'Practitioner?_revinclude=*:*');
    expectNothingOfB(everything.body);
    const provenance = await find(asA, 'Observation?_revinclude=Provenance:target');
    expect(provenance.include).toEqual([`Provenance/${ids.provA}`]);
  });

  it('chains through references to B find nothing', async () => {
    for (const q of [
      `Observation?subject.name=${B_FAMILY}`,
      `Observation?subject:Patient.family=${B_FAMILY}`,
      `Observation?subject._id=${ids.b}`,
      `Observation?focus.name=${B_FAMILY}`,
      `Observation?focus:Patient.family=${B_FAMILY}`,
      `Encounter?subject.family=${B_FAMILY}`,
      `Provenance?target:Observation.code=${B_CODE}`,
      `Provenance?target:Observation.subject.name=${B_FAMILY}`,
    ]) {
      const res = await find(asA, q);
      expect({ q, match: res.match }).toEqual({ q, match: [] });
      expectNothingOfB(res.body);
    }
    // The same chains to A find A's.
    expect((await find(asA, `Observation?subject.name=${A_FAMILY}`)).match).toEqual(sorted([`Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
  });

  it('_has does not reveal B (nor anything about B through shared resources)', async () => {
    for (const q of [
      `Patient?_has:Observation:patient:code=${B_CODE}`,
      `Patient?_has:Observation:subject:_id=${ids.bObs}`,
      `Practitioner?_has:Observation:performer:code=${B_CODE}`,
      `Practitioner?_has:Encounter:participant:subject=Patient/${ids.b}`,
      `Practitioner?_has:Patient:general-practitioner:family=${B_FAMILY}`,
      `Practitioner?_has:Observation:performer:subject.name=${B_FAMILY}`,
    ]) {
      const res = await find(asA, q);
      expect({ q, match: res.match }).toEqual({ q, match: [] });
      expectNothingOfB(res.body);
    }
    // Control: A's own data through _has.
    expect((await find(asA, 'Practitioner?_has:Observation:performer:code=2339-0')).match).toEqual([`Practitioner/${ids.prac}`]);
  });

  it('resources that belong to no patient are visible: _include=Observation:performer includes the shared Practitioner', async () => {
    const res = await find(asA, 'Observation?_include=Observation:performer');
    expect(res.include).toEqual([`Practitioner/${ids.prac}`]);
    expect((await find(asA, 'Practitioner')).match).toEqual([`Practitioner/${ids.prac}`]);
    expect((await find(asA, 'Patient?_include=Patient:general-practitioner')).include).toEqual([`Practitioner/${ids.prac}`]);
  });

  it('system search (GET /fhir?_type=...) is confined too', async () => {
    const typed = await find(asA, '/fhir?_type=Observation,Patient&_count=1000');
    expect(typed.match).toEqual(sorted([`Patient/${ids.a}`, `Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
    expect(typed.total).toBe(3);
    expectNothingOfB(typed.body);
    const filtered = await find(asA, `/fhir?_type=Observation,Encounter&subject=Patient/${ids.b}`);
    expect(filtered.match).toEqual([]);
    const withIncludes = await find(asA, '/fhir?_type=Observation,Encounter&_include=Observation:subject&_include=Encounter:subject&_count=1000');
    expectNothingOfB(withIncludes.body);
    // Without _type: every type the token may read - A's compartment and shared resources, no AuditEvent.
    const all = await find(asA, '/fhir?_count=1000');
    expectNothingOfB(all.body);
    expect(all.match).toEqual(expect.arrayContaining([`Patient/${ids.a}`, `Observation/${ids.aObs}`, `Encounter/${ids.aEnc}`, `Practitioner/${ids.prac}`]));
    expect(all.match.filter((r) => r.startsWith('AuditEvent/'))).toEqual([]);
  });

  it('POST [type]/_search and POST /fhir/_search are confined too', async () => {
    const plain = searchset(await asA.post('Observation/_search', '', FORM), 'POST Observation/_search');
    expect(sorted(refs(plain, 'match'))).toEqual(sorted([`Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
    expectNothingOfB(plain);
    for (const body of [`subject=Patient/${ids.b}`, `code=${B_CODE}`, `subject.name=${B_FAMILY}`, `_id=${ids.bObs}`]) {
      const res = searchset(await asA.post('Observation/_search', body, FORM), `POST Observation/_search ${body}`);
      expect({ body, match: refs(res, 'match') }).toEqual({ body, match: [] });
      expectNothingOfB(res);
    }
    const withInclude = searchset(await asA.post('Observation/_search', '_include=Observation:focus&_include=Observation:subject', FORM), 'POST with _include');
    expectNothingOfB(withInclude);
    const patients = searchset(await asA.post('Patient/_search', `_has:Observation:patient:code=${B_CODE}`, FORM), 'POST Patient/_search _has');
    expect(refs(patients, 'match')).toEqual([]);
    const system = searchset(await asA.post('_search', '_type=Observation,Patient&_count=1000', FORM), 'POST /fhir/_search');
    expect(sorted(refs(system, 'match'))).toEqual(sorted([`Patient/${ids.a}`, `Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
  });
});

describe('AuditEvent search', () => {
  let ehr: { client_id: string; client_secret: string };
  let asEhr: FhirRequest;
  beforeAll(async () => {
    ehr = await newClient({ role: 'ehr-system' });
    asEhr = FhirRequest.of(t, await fetchToken(t.app, ehr.client_id, ehr.client_secret));
  });

  it('administrators search AuditEvents (written a moment after each request)', async () => {
    let body: Json | undefined;
    for (let i = 0; i < 40; i++) {
      body = searchset(await admin.get('AuditEvent?_count=5'), 'GET AuditEvent?_count=5');
      if ((body.entry ?? []).length) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    const entries = ((body?.entry ?? []) as Json[]).filter((e) => e.search?.mode === 'match');
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.length).toBeLessThanOrEqual(5);
    for (const e of entries) expect(e.resource.resourceType).toBe('AuditEvent');
    const system = searchset(await admin.get('/fhir?_type=AuditEvent&_count=5'), 'GET /fhir?_type=AuditEvent');
    expect(refs(system, 'match').length).toBeGreaterThan(0);
    const posted = searchset(await admin.post('AuditEvent/_search', '_count=5', FORM), 'POST AuditEvent/_search');
    expect(refs(posted, 'match').length).toBeGreaterThan(0);
  });

  it('a non-administrator token gets a 403 OperationOutcome, by every way of searching', async () => {
    for (const api of [asEhr, asA]) {
      expectOutcome(await api.get('AuditEvent'), 403);
      expectOutcome(await api.get('AuditEvent?_count=5'), 403);
      expectOutcome(await api.post('AuditEvent/_search', '_count=5', FORM), 403);
      expectOutcome(await api.get('/fhir?_type=AuditEvent'), 403);
      expectOutcome(await api.get('/fhir?_type=Patient,AuditEvent'), 403);
    }
    // Not in the system-level search without _type, nor pulled in by an include.
    const all = await find(asEhr, '/fhir?_count=1000');
    expect(all.match.filter((r) => r.startsWith('AuditEvent/'))).toEqual([]);
    const rev = await asEhr.get('Patient?_revinclude=AuditEvent:entity&_revinclude=AuditEvent:patient');
    if (rev.status === 200) expect(refs(rev.body).filter((r) => r.startsWith('AuditEvent/'))).toEqual([]);
    else expectOutcome(rev, 403);
  });
});

describe('scopes through search', () => {
  let ehr: { client_id: string; client_secret: string };
  beforeAll(async () => {
    ehr = await newClient({ role: 'ehr-system' });
  });

  it('the ehr-system role holds system/*.cruds, and may narrow it at the token endpoint', async () => {
    const full = await tokenRequest(ehr.client_id, ehr.client_secret);
    expect(full.body.scope).toBe('system/*.cruds');
    const narrow = await tokenRequest(ehr.client_id, ehr.client_secret, 'system/Patient.rs');
    expect(narrow.body.scope).toBe('system/Patient.rs');
  });

  it('a token without a scope for a type gets 403 on searching it, by GET, POST and at system level', async () => {
    const patientsOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Patient.rs'));
    expect((await find(patientsOnly, 'Patient')).match).toEqual(sorted([`Patient/${ids.a}`, `Patient/${ids.b}`]));
    for (const type of ['Observation', 'Encounter', 'Practitioner', 'Provenance']) {
      expectOutcome(await patientsOnly.get(type), 403);
      expectOutcome(await patientsOnly.get(`${type}?_id=x`), 403);
      expectOutcome(await patientsOnly.post(`${type}/_search`, '', FORM), 403);
      expectOutcome(await patientsOnly.get(`/fhir?_type=${type}`), 403);
      expectOutcome(await patientsOnly.get(`/fhir?_type=Patient,${type}`), 403);
    }
    // System level without _type: refused, or only what the token may search.
    const all = await patientsOnly.get('/fhir?_count=1000');
    if (all.status === 200) expect(sorted(refs(all.body, 'match'))).toEqual(sorted([`Patient/${ids.a}`, `Patient/${ids.b}`]));
    else expectOutcome(all, 403);
  });

  it('a system-level search whose _type names only types the token may search is answered', async () => {
    const patientsOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Patient.rs'));
    const typed = await find(patientsOnly, '/fhir?_type=Patient');
    expect(typed.match).toEqual(sorted([`Patient/${ids.a}`, `Patient/${ids.b}`]));
    const posted = searchset(await patientsOnly.post('_search', '_type=Patient', FORM), 'POST /fhir/_search _type=Patient');
    expect(sorted(refs(posted, 'match'))).toEqual(sorted([`Patient/${ids.a}`, `Patient/${ids.b}`]));
  });

  it('compartment search needs the searched type\'s scope before anything is said about the Patient', async () => {
    const patientsOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Patient.rs'));
    for (const id of [ids.a, 'no-such-patient']) {
      expectOutcome(await patientsOnly.get(`Patient/${id}/Observation`), 403); // the same answer whether the Patient exists or not
      expectOutcome(await patientsOnly.get(`Patient/${id}/*`), 403);
    }
    // Observations but not Patients: A's Observations; an unknown Patient's compartment is empty (not a 404 that tells Patients apart).
    const observationsOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Observation.rs'));
    expect((await find(observationsOnly, `Patient/${ids.a}/Observation`)).match).toEqual(sorted([`Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
    expect((await find(observationsOnly, 'Patient/no-such-patient/Observation')).match).toEqual([]);
    // With Patient read too: 404 for an unknown Patient, as a read answers.
    const both = FhirRequest.of(t, await scopedToken(ehr, 'system/Observation.rs system/Patient.rs'));
    expectOutcome(await both.get('Patient/no-such-patient/Observation'), 404);
  });

  it('read without search (".r") is not enough to search; search alone (".s") is', async () => {
    const readOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Observation.r'));
    expect((await readOnly.get(`Observation/${ids.aObs}`)).status).toBe(200);
    expectOutcome(await readOnly.get('Observation'), 403);
    const searchOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Observation.s'));
    expect((await find(searchOnly, 'Observation')).match).toHaveLength(3);
  });

  it('_include and _revinclude leave out the types the token may not read', async () => {
    const observationsOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Observation.rs'));
    const inc = await find(observationsOnly, 'Observation?_include=Observation:subject&_include=Observation:performer&_revinclude=Provenance:target');
    expect(inc.match).toHaveLength(3);
    expect(inc.include).toEqual([]);
    const patientsOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Patient.rs'));
    const rev = await find(patientsOnly, 'Patient?_revinclude=Observation:subject&_revinclude=Encounter:subject&_include=Patient:general-practitioner');
    expect(rev.include).toEqual([]);
  });

  it('chains and _has into a type the token may not search reveal nothing about it (403, or never a match)', async () => {
    const patientsOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Patient.rs'));
    const observationsOnly = FhirRequest.of(t, await scopedToken(ehr, 'system/Observation.rs'));
    const cases: Array<[FhirRequest, string]> = [
      [patientsOnly, `Patient?_has:Observation:patient:code=${B_CODE}`],
      [patientsOnly, `Patient?_has:Encounter:subject:status=finished`],
      [patientsOnly, 'Patient?general-practitioner.family=Sharedpractitioner'],
      [patientsOnly, 'Patient?general-practitioner:Practitioner.name=Sharedpractitioner'],
      [observationsOnly, `Observation?subject.name=${B_FAMILY}`],
      [observationsOnly, `Observation?performer:Practitioner.family=Sharedpractitioner`],
      [observationsOnly, `Observation?_has:Provenance:target:agent=Practitioner/${ids.prac}`],
    ];
    const out: string[] = [];
    for (const [api, q] of cases) {
      const res = await api.get(q);
      if (res.status === 403 && res.body?.resourceType === 'OperationOutcome') continue;
      if (res.status === 200 && refs(res.body, 'match').length === 0) continue;
      out.push(`GET ${q} with ${api === patientsOnly ? 'system/Patient.rs' : 'system/Observation.rs'}: ${res.status} ${JSON.stringify(refs(res.body ?? {}, 'match'))}`);
    }
    expect(out).toEqual([]);
  });

  it('a patient token narrowed to Observations cannot search Patients', async () => {
    const patientA = await newClient({ role: 'patient', patient: `Patient/${ids.a}` });
    const narrowed = FhirRequest.of(t, await scopedToken(patientA, 'patient/Observation.rs'));
    expectOutcome(await narrowed.get('Patient'), 403);
    expectOutcome(await narrowed.get('/fhir?_type=Patient'), 403);
    const obs = await find(narrowed, 'Observation?_include=Observation:subject');
    expect(obs.match).toEqual(sorted([`Observation/${ids.aObs}`, `Observation/${ids.aObsFocus}`]));
    expect(obs.include).toEqual([]);
  });
});
