import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { fhirKitClient, type FhirKitClient } from '../../src/exchange/fhir-kit-client';
import { xmlToResource } from '../../src/fhir/rest/fhir-xml';
import { FhirRequest, expectOutcome, withoutServerFields } from '../helpers/fhir-request';
import { example, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * What an external EHR exchanges: transaction and batch Bundles (through fhir-kit-client and raw
 * HTTP), conditional create/update/delete, conditional references, PATCH and XML. Every refusal of
 * a transaction is checked to have stored nothing at all (the system history total).
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SYS = 'urn:oid:1.2.3.4.5.bundles-spec';
const NPI = 'http://hl7.org/fhir/sid/us-npi';
const XHTML = 'http://www.w3.org/1999/xhtml';
const FHIR_XML = 'application/fhir+xml';

let t: TestApp;
let api: FhirRequest;
let client: FhirKitClient;

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  client = fhirKitClient({ baseUrl: `${t.baseUrl}/fhir`, bearerToken: t.token });
});

afterAll(async () => {
  await t?.close();
});

/** A fresh identifier value, so that tests never see each other's resources. */
const fresh = (prefix = 'v') => `${prefix}-${randomUUID()}`;
const urn = () => `urn:uuid:${randomUUID()}`;

function transaction(entry: Json[]): Json {
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

function post(resource: Json, fullUrl?: string, ifNoneExist?: string): Json {
  return { ...(fullUrl ? { fullUrl } : {}), resource, request: { method: 'POST', url: resource.resourceType, ...(ifNoneExist ? { ifNoneExist } : {}) } };
}

function patient(value: string, family = 'Bundle', extra: Json = {}): Json {
  return { resourceType: 'Patient', identifier: [{ system: SYS, value }], name: [{ family, given: ['Test'] }], ...extra };
}

/** `Type/id` of a `Type/id/_history/v` location. */
function target(location: string): string {
  const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.]+)\/_history\/\d+$/.exec(location);
  if (!m) throw new Error(`not a version location: ${location}`);
  return `${m[1]}/${m[2]}`;
}

/** Creates through REST and returns the stored resource. */
async function created(resource: Json): Promise<Json> {
  const res = await api.post(resource.resourceType, resource);
  expect({ status: res.status, body: res.body }).toMatchObject({ status: 201 });
  return res.body;
}

async function read(ref: string): Promise<Json> {
  const res = await api.get(ref);
  if (res.status !== 200) throw new Error(`GET ${ref} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Ids of the current resources of a type with the identifier, through a transaction GET. */
async function findByIdentifier(type: string, system: string, value: string): Promise<string[]> {
  const res = await api.post('', transaction([{ request: { method: 'GET', url: `${type}?identifier=${encodeURIComponent(system)}|${encodeURIComponent(value)}` } }]));
  expect(res.status).toBe(200);
  const bundle = res.body.entry[0].resource as Json;
  expect(bundle.type).toBe('searchset');
  return ((bundle.entry as Json[] | undefined) ?? []).map((e) => e.resource.id as string);
}

/** Sends a request that must be refused, checks the OperationOutcome and that nothing at all was stored. */
async function refusedAndNothingStored(send: () => request.Test | Promise<request.Response>, status: number, expression?: string | RegExp): Promise<Json> {
  const before = await api.historyTotal();
  const res = await send();
  const oo = expectOutcome(res, status, expression);
  expect(await api.historyTotal()).toBe(before);
  return oo;
}

/** The diagnostics of every issue, joined. */
const diagnostics = (oo: Json) => (oo.issue as Json[]).map((i) => i.diagnostics ?? '').join('\n');

/** The HTTP response behind a fhir-kit-client result. */
function responseOf(result: unknown): Response {
  const res = (result as Record<string, unknown>).__response as Response | undefined;
  if (!res) throw new Error('fhir-kit-client result carries no response');
  return res;
}

/** What fhir-kit-client rejects with on an HTTP error. */
async function rejection(p: Promise<unknown>): Promise<{ response: { status: number; data: Json } }> {
  try {
    await p;
  } catch (e) {
    return e as { response: { status: number; data: Json } };
  }
  throw new Error('expected the request to be rejected');
}

function patch(path: string, body: unknown, contentType: string): request.Test {
  return request(t.app.getHttpServer())
    .patch(`/fhir/${path}`)
    .set('Authorization', `Bearer ${t.token}`)
    .set('Content-Type', contentType)
    .send(JSON.stringify(body));
}

describe('transaction', () => {
  it('rewrites urn:uuid references everywhere (nested, contained, narrative) to the server ids; entries 201 with location and etag', async () => {
    const [pUrn, eUrn, oUrn] = [urn(), urn(), urn()];
    const value = fresh();
    const observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
      subject: { reference: pUrn, display: 'Ada Urn' },
      encounter: { reference: eUrn },
      specimen: { reference: '#blood' },
      contained: [{ resourceType: 'Specimen', id: 'blood', subject: { reference: pUrn }, type: { text: 'blood' } }],
      valueQuantity: { value: 70.25, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    };
    const encounter = {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: pUrn },
      text: { status: 'generated', div: `<div xmlns="${XHTML}">Visit of <a href="${pUrn}">Ada Urn</a></div>` },
    };
    const pat = patient(value, 'Urn', { birthDate: '1980-04-05', gender: 'female' });
    // Forward references: the Patient comes last.
    const body = transaction([post(observation, oUrn), post(encounter, eUrn), post(pat, pUrn)]);

    const result = (await client.transaction({ body: body as never })) as unknown as Json;
    expect(responseOf(result).status).toBe(200);
    expect(result.resourceType).toBe('Bundle');
    expect(result.type).toBe('transaction-response');
    expect(result.entry).toHaveLength(3);
    for (const [i, type] of ['Observation', 'Encounter', 'Patient'].entries()) {
      const r = result.entry[i].response;
      expect(r.status).toMatch(/^201/);
      expect(r.location).toMatch(new RegExp(`^${type}/[A-Za-z0-9\\-.]+/_history/1$`));
      expect(r.etag).toBe('W/"1"');
      expect(new Date(r.lastModified).getTime()).not.toBeNaN();
    }
    const [oRef, eRef, pRef] = result.entry.map((e: Json) => target(e.response.location));
    for (const ref of [oRef, eRef, pRef]) expect(ref).not.toContain('urn');

    const rewrite = (r: Json): Json => JSON.parse(JSON.stringify(r).split(pUrn).join(pRef).split(eUrn).join(eRef)) as Json;
    const storedObservation = await read(oRef);
    expect(storedObservation.subject.reference).toBe(pRef);
    expect(storedObservation.encounter.reference).toBe(eRef);
    expect(storedObservation.contained[0].subject.reference).toBe(pRef);
    expect(withoutServerFields(storedObservation)).toEqual(rewrite(observation));
    const storedEncounter = await read(eRef);
    expect(storedEncounter.text.div).toContain(`href="${pRef}"`);
    expect(withoutServerFields(storedEncounter)).toEqual(rewrite(encounter));
    expect(withoutServerFields(await read(pRef))).toEqual(pat);
    // The response entries carry the stored resources (return=representation is the default).
    expect(result.entry[0].resource).toEqual(storedObservation);
  });

  it('rewrites an Attachment.url naming a Binary entry by urn:uuid (elements of type url, http.html#trules); identifiers and canonical URLs stay', async () => {
    const [bUrn, dUrn, pUrn] = [urn(), urn(), urn()];
    const binary = { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('discharge letter').toString('base64') };
    const document = {
      resourceType: 'DocumentReference',
      status: 'current',
      masterIdentifier: { system: 'urn:ietf:rfc:3986', value: bUrn },
      subject: { reference: pUrn },
      content: [{ attachment: { contentType: 'text/plain', url: bUrn } }, { attachment: { contentType: 'text/html', url: 'https://ehr.example/letters/1.html' } }],
    };
    const result = (await client.transaction({ body: transaction([post(document, dUrn), post(binary, bUrn), post(patient(fresh()), pUrn)]) as never })) as unknown as Json;
    const [dRef, bRef] = result.entry.map((e: Json) => target(e.response.location));
    const stored = await read(dRef);
    expect(stored.content[0].attachment.url).toBe(bRef);
    expect(stored.content[1].attachment.url).toBe('https://ehr.example/letters/1.html');
    expect(stored.masterIdentifier.value).toBe(bUrn);
    // The rewritten url is a working relative reference to the stored Binary.
    const binaryRead = await api.get(bRef).set('Accept', 'application/fhir+json');
    expect(binaryRead.status).toBe(200);
    expect(Buffer.from(binaryRead.body.data, 'base64').toString()).toBe('discharge letter');
  });

  it('resolves relative references through RESTful fullUrls (bundle.html#references), as EHRs that send their own URLs do', async () => {
    const base = `https://ehr-${randomUUID()}.example/fhir`;
    const value = fresh();
    const pat = patient(value, 'Restful');
    const encounter = { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: 'Patient/p1' } };
    // From an entry with a RESTful fullUrl (the base rule), and from a urn:uuid one (the only entry that ends in Patient/p1).
    const fromRestful = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' }, encounter: { reference: 'Encounter/e1' } };
    const fromUrn = { resourceType: 'Observation', status: 'final', code: { text: 'y' }, subject: { reference: 'Patient/p1' } };
    const res = await api.post(
      '',
      transaction([
        { fullUrl: `${base}/Observation/o1`, resource: fromRestful, request: { method: 'POST', url: 'Observation' } },
        { fullUrl: urn(), resource: fromUrn, request: { method: 'POST', url: 'Observation' } },
        { fullUrl: `${base}/Encounter/e1`, resource: encounter, request: { method: 'POST', url: 'Encounter' } },
        { fullUrl: `${base}/Patient/p1`, resource: pat, request: { method: 'POST', url: 'Patient' } },
      ]),
    );
    expect(res.status).toBe(200);
    const [o1, o2, e1, p1] = (res.body.entry as Json[]).map((e) => target(e.response.location));
    expect(p1).not.toBe('Patient/p1');
    expect((await read(o1)).subject.reference).toBe(p1);
    expect((await read(o1)).encounter.reference).toBe(e1);
    expect((await read(o2)).subject.reference).toBe(p1);
    expect((await read(e1)).subject.reference).toBe(p1);

    // Two entries ending in Patient/p1 from different bases: a reference from a urn:uuid entry is ambiguous, so it
    // stays a reference to this server's Patient/p1, which does not exist (400, nothing stored).
    const before = await api.historyTotal();
    const ambiguous = await api.post(
      '',
      transaction([
        { fullUrl: `${base}/Patient/p1`, resource: patient(fresh(), 'A'), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: `https://other.example/fhir/Patient/p1`, resource: patient(fresh(), 'B'), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: urn(), resource: fromUrn, request: { method: 'POST', url: 'Observation' } },
      ]),
    );
    expectOutcome(ambiguous, 400);
    expect(await api.historyTotal()).toBe(before);

    // An entry with a RESTful fullUrl reads Patient/p9 against its own base only: an entry at another base is not it.
    const crossBase = await api.post(
      '',
      transaction([
        { fullUrl: `https://other.example/fhir/Patient/p9`, resource: patient(fresh(), 'C'), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: `${base}/Observation/o9`, resource: { ...fromUrn, subject: { reference: 'Patient/p9' } }, request: { method: 'POST', url: 'Observation' } },
      ]),
    );
    expectOutcome(crossBase, 400);
    expect(await api.historyTotal()).toBe(before);
  });

  it('stores the R4 example Bundle-xds (absolute fullUrls, relative references from a urn:uuid entry)', async () => {
    const xds = example<Json>('Bundle-xds.json');
    const res = await api.post('', xds);
    expect(res.status).toBe(200);
    const refs = (res.body.entry as Json[]).map((e) => target(e.response.location));
    const doc = await read(refs[0]);
    expect(doc.resourceType).toBe('DocumentReference');
    expect(doc.subject.reference).toBe(refs[1]);
    expect(doc.author.map((a: Json) => a.reference)).toEqual([refs[2], refs[3]]);
    expect(doc.content[0].attachment.url).toBeDefined();
  });

  it('Prefer: return=minimal leaves the resources out of the response', async () => {
    const res = await api.post('', transaction([post(patient(fresh()), urn())])).set('Prefer', 'return=minimal');
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(/^201/);
    expect(res.body.entry[0].resource).toBeUndefined();
  });

  it('processes DELETE, POST, PUT, then GET, and answers in request order', async () => {
    const [gone, kept, added] = [fresh('gone'), fresh('kept'), fresh('added')];
    const doomed = await created(patient(gone));
    const stays = await created(patient(kept));
    const res = await api.post(
      '',
      transaction([
        { request: { method: 'GET', url: `Patient?identifier=${SYS}|${gone}` } },
        { request: { method: 'GET', url: `Patient?identifier=${SYS}|${added}` } },
        { request: { method: 'GET', url: `Patient/${stays.id}` } },
        post(patient(added), urn()),
        { resource: { ...stays, name: [{ family: 'Renamed' }] }, request: { method: 'PUT', url: `Patient/${stays.id}` } },
        { request: { method: 'DELETE', url: `Patient/${doomed.id}` } },
      ]),
    );
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 200, body: { type: 'transaction-response' } });
    const e = res.body.entry as Json[];
    expect(e).toHaveLength(6);
    // Request order: the GETs come first in the response although they ran last.
    expect(e[0].resource).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 0 }); // the DELETE ran before
    expect(e[1].resource).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 }); // the POST ran before
    const addedRef = target(e[3].response.location);
    expect(`Patient/${e[1].resource.entry[0].resource.id}`).toBe(addedRef);
    expect(e[2].response.etag).toBe('W/"2"'); // the PUT ran before
    expect(e[2].resource.name).toEqual([{ family: 'Renamed' }]);
    expect(e[3].response.status).toMatch(/^201/);
    expect(e[4].response.status).toMatch(/^200/);
    expect(e[5].response.status).toMatch(/^204/);
    expect((await api.get(`Patient/${doomed.id}`)).status).toBe(410);
  });

  it('is all or nothing: an invalid third entry is 400 naming Bundle.entry[2], and entries 0-1 are not stored', async () => {
    const patients = await api.historyTotal('Patient');
    const observations = await api.historyTotal('Observation');
    const pUrn = urn();
    const oo = await refusedAndNothingStored(
      () =>
        api.post(
          '',
          transaction([
            post(patient(fresh()), pUrn),
            post({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: pUrn } }),
            post({ resourceType: 'Patient', name: [{ family: 'Bad' }], favouriteColour: 'green' }),
          ]),
        ),
      400,
    );
    expect(diagnostics(oo)).toContain('Bundle.entry[2]');
    expect(JSON.stringify(oo)).toContain('favouriteColour');
    expect(await api.historyTotal('Patient')).toBe(patients);
    expect(await api.historyTotal('Observation')).toBe(observations);
  });

  it('is all or nothing when the failing entry runs after the writes (a GET of an unknown resource)', async () => {
    const pUrn = urn();
    const value = fresh();
    const oo = await refusedAndNothingStored(
      () =>
        api.post(
          '',
          transaction([
            post(patient(value), pUrn),
            post({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: pUrn } }),
            { request: { method: 'GET', url: `Patient/${randomUUID()}` } },
          ]),
        ),
      404,
    );
    expect(diagnostics(oo)).toContain('Bundle.entry[2]');
    expect(await findByIdentifier('Patient', SYS, value)).toEqual([]);
  });

  it('ifNoneExist: the first run creates (201), the second returns the existing resource (200, same id) and stores nothing', async () => {
    const value = fresh();
    const bundle = () => transaction([post(patient(value), urn(), `identifier=${SYS}|${value}`)]);
    const first = (await client.transaction({ body: bundle() as never })) as unknown as Json;
    expect(first.entry[0].response.status).toMatch(/^201/);
    const id = target(first.entry[0].response.location);
    const before = await api.historyTotal();
    const second = (await client.transaction({ body: bundle() as never })) as unknown as Json;
    expect(second.entry[0].response.status).toMatch(/^200/);
    expect(target(second.entry[0].response.location)).toBe(id);
    expect(second.entry[0].resource.id).toBe(id.split('/')[1]);
    expect(await api.historyTotal()).toBe(before);
    expect(await findByIdentifier('Patient', SYS, value)).toEqual([id.split('/')[1]]);
  });

  it('urn:uuid fullUrls inside ifNoneExist and conditional URLs name the entries (http.html#trules): the same Bundle sent twice creates nothing the second time', async () => {
    const value = fresh();
    const pUrn = urn();
    const code = (c: string) => ({ coding: [{ system: SYS, code: c }] });
    // The Observations come first: their criteria wait for the Patient entry's identity.
    const body = () =>
      transaction([
        { resource: { resourceType: 'Observation', status: 'final', code: code(`${value}-a`), subject: { reference: pUrn } }, request: { method: 'POST', url: 'Observation', ifNoneExist: `subject=${pUrn}&code=${SYS}|${value}-a` } },
        { resource: { resourceType: 'Observation', status: 'final', code: code(`${value}-b`), subject: { reference: pUrn } }, request: { method: 'PUT', url: `Observation?subject=${encodeURIComponent(pUrn)}&code=${encodeURIComponent(`${SYS}|${value}-b`)}` } },
        post(patient(value), pUrn, `identifier=${SYS}|${value}`),
        { request: { method: 'GET', url: `Observation?subject=${encodeURIComponent(pUrn)}` } },
      ]);
    const first = await api.post('', body());
    expect(first.status).toBe(200);
    expect(first.body.entry.slice(0, 3).map((e: Json) => e.response.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    expect(first.body.entry[3].resource.total).toBe(2);
    const second = await api.post('', body());
    expect(second.status).toBe(200);
    expect(second.body.entry.slice(0, 3).map((e: Json) => e.response.status.slice(0, 3))).toEqual(['200', '200', '200']);
    const patientRef = target(first.body.entry[2].response.location);
    expect(target(second.body.entry[0].response.location)).toBe(target(first.body.entry[0].response.location));
    const observations = await api.get(`Observation?subject=${patientRef}`);
    expect(observations.body.total).toBe(2);
  });

  it('ifNoneExist references: a urn:uuid that points at an ifNoneExist entry resolves to the existing resource', async () => {
    const value = fresh();
    const existing = await created(patient(value));
    const pUrn = urn();
    const res = await api.post(
      '',
      transaction([post(patient(value), pUrn, `identifier=${SYS}|${value}`), post({ resourceType: 'Observation', status: 'final', code: { text: 'y' }, subject: { reference: pUrn } })]),
    );
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(/^200/);
    expect((await read(target(res.body.entry[1].response.location))).subject.reference).toBe(`Patient/${existing.id}`);
  });

  it('ifMatch: a stale version is 412 and nothing of the transaction is stored', async () => {
    const p = await created(patient(fresh()));
    const v2 = (await api.put(`Patient/${p.id}`, { ...p, active: true })).body;
    expect(v2.meta.versionId).toBe('2');
    const value = fresh();
    await refusedAndNothingStored(
      () =>
        api.post(
          '',
          transaction([
            post(patient(value), urn()),
            { resource: { ...p, active: false }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"1"' } },
          ]),
        ),
      412,
    );
    expect(await read(`Patient/${p.id}`)).toEqual(v2);
    expect(await findByIdentifier('Patient', SYS, value)).toEqual([]);
    // The current version is accepted.
    const ok = await api.post('', transaction([{ resource: { ...p, active: false }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"2"' } }]));
    expect(ok.status).toBe(200);
    expect(ok.body.entry[0].response.etag).toBe('W/"3"');
  });

  it('conditional update (PUT Patient?identifier=...) creates, then updates the same resource', async () => {
    const value = fresh();
    const url = `Patient?identifier=${SYS}|${value}`;
    const first = await api.post('', transaction([{ resource: patient(value, 'First'), request: { method: 'PUT', url } }]));
    expect(first.status).toBe(200);
    expect(first.body.entry[0].response.status).toMatch(/^201/);
    const ref = target(first.body.entry[0].response.location);
    const second = await api.post('', transaction([{ resource: patient(value, 'Second'), request: { method: 'PUT', url } }]));
    expect(second.status).toBe(200);
    expect(second.body.entry[0].response.status).toMatch(/^200/);
    expect(second.body.entry[0].response.location).toBe(`${ref}/_history/2`);
    const stored = await read(ref);
    expect(stored.name[0].family).toBe('Second');
    expect(await findByIdentifier('Patient', SYS, value)).toEqual([ref.split('/')[1]]);
  });

  it('conditional delete (DELETE Patient?identifier=...) deletes the match; no match is harmless', async () => {
    const value = fresh();
    const p = await created(patient(value));
    const res = await api.post('', transaction([{ request: { method: 'DELETE', url: `Patient?identifier=${SYS}|${value}` } }]));
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(/^204/);
    expect((await api.get(`Patient/${p.id}`)).status).toBe(410);
    const before = await api.historyTotal();
    const none = await api.post('', transaction([{ request: { method: 'DELETE', url: `Patient?identifier=${SYS}|${fresh()}` } }]));
    expect(none.status).toBe(200);
    expect(none.body.entry[0].response.status).toMatch(/^204/);
    expect(await api.historyTotal()).toBe(before);
  });
});

describe('conditional references', () => {
  const observationBy = (practitionerRef: string, pUrn: string) => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'conditional reference' },
    subject: { reference: pUrn },
    performer: [{ reference: practitionerRef, display: 'Dr Who' }],
  });

  it('Practitioner?identifier=sys|val matching one resource is rewritten to it', async () => {
    const npi = fresh('npi');
    const practitioner = await created({ resourceType: 'Practitioner', identifier: [{ system: NPI, value: npi }], name: [{ family: 'Who' }] });
    const pUrn = urn();
    const res = await api.post('', transaction([post(patient(fresh()), pUrn), post(observationBy(`Practitioner?identifier=${NPI}|${npi}`, pUrn))]));
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 200 });
    const obs = await read(target(res.body.entry[1].response.location));
    expect(obs.performer).toEqual([{ reference: `Practitioner/${practitioner.id}`, display: 'Dr Who' }]);
    expect(obs.subject.reference).toBe(target(res.body.entry[0].response.location));
  });

  it('matching nothing is 400 naming the reference, and nothing is stored', async () => {
    const ref = `Practitioner?identifier=${NPI}|${fresh('none')}`;
    const pUrn = urn();
    const oo = await refusedAndNothingStored(() => api.post('', transaction([post(patient(fresh()), pUrn), post(observationBy(ref, pUrn))])), 400);
    expect(diagnostics(oo)).toContain(ref);
    expect(diagnostics(oo)).toContain('Bundle.entry[1]');
  });

  it('matching two resources is 412, and nothing is stored', async () => {
    const npi = fresh('twice');
    for (const family of ['One', 'Two']) await created({ resourceType: 'Practitioner', identifier: [{ system: NPI, value: npi }], name: [{ family }] });
    const pUrn = urn();
    const oo = await refusedAndNothingStored(
      () => api.post('', transaction([post(patient(fresh()), pUrn), post(observationBy(`Practitioner?identifier=${NPI}|${npi}`, pUrn))])),
      412,
    );
    expect(diagnostics(oo)).toContain(`Practitioner?identifier=${NPI}|${npi}`);
  });
});

describe('bad bundles', () => {
  it('a body that is not a Bundle is 400', async () => {
    await refusedAndNothingStored(() => api.post('', patient(fresh())), 400);
  });

  it('a Bundle of type collection is 400 naming Bundle.type', async () => {
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [post(patient(fresh()), urn())] };
    await refusedAndNothingStored(() => api.post('', bundle), 400, 'Bundle.type');
  });

  it('duplicate fullUrls are 400 naming the entry', async () => {
    const u = urn();
    const oo = await refusedAndNothingStored(() => api.post('', transaction([post(patient(fresh()), u), post(patient(fresh()), urn()), post(patient(fresh()), u)])), 400, /^Bundle\.entry\[2\]/);
    expect(diagnostics(oo)).toContain(u);
  });

  it('an operation in an entry (POST CodeSystem/$lookup, as the R4 example transaction has) is 400 saying operations are not supported there', async () => {
    const lookup = { fullUrl: urn(), resource: { resourceType: 'Parameters', parameter: [{ name: 'code', valueCode: 'x' }] }, request: { method: 'POST', url: 'CodeSystem/$lookup' } };
    const oo = await refusedAndNothingStored(() => api.post('', transaction([post(patient(fresh()), urn()), lookup])), 400, 'Bundle.entry[1].request.url');
    expect(diagnostics(oo)).toContain('operations are not supported in bundle entries');
  });

  it('a urn:uuid reference to no entry of the bundle is 400 naming the entry', async () => {
    const dangling = urn();
    const oo = await refusedAndNothingStored(
      () => api.post('', transaction([post(patient(fresh()), urn()), post({ resourceType: 'Observation', status: 'final', code: { text: 'z' }, subject: { reference: dangling } })])),
      400,
      'Bundle.entry[1]',
    );
    expect(diagnostics(oo)).toContain(dangling);
  });

  it('an entry with PUT but no resource is 400 naming it', async () => {
    await refusedAndNothingStored(
      () => api.post('', transaction([post(patient(fresh()), urn()), { request: { method: 'PUT', url: `Patient/${randomUUID()}` } }])),
      400,
      'Bundle.entry[1].resource',
    );
  });

  it(`more entries than MAX_BUNDLE_ENTRIES is 413, nothing is stored; exactly the limit is accepted`, async () => {
    const small = await startTestApp({ MAX_BUNDLE_ENTRIES: '5' });
    try {
      const smallApi = FhirRequest.of(small);
      const before = await smallApi.historyTotal();
      const six = transaction(Array.from({ length: 6 }, () => post(patient(fresh()), urn())));
      expectOutcome(await smallApi.post('', six), 413);
      const asBatch = { ...six, type: 'batch' };
      expectOutcome(await smallApi.post('', asBatch), 413);
      expect(await smallApi.historyTotal()).toBe(before);
      const five = transaction(Array.from({ length: 5 }, () => post(patient(fresh()), urn())));
      const ok = await smallApi.post('', five);
      expect(ok.status).toBe(200);
      expect(await smallApi.historyTotal()).toBe(before + 5);
    } finally {
      await small.close();
    }
  });
});

describe('batch', () => {
  it('a failing middle entry is reported as an OperationOutcome; the other two are stored', async () => {
    const [a, c] = [fresh(), fresh()];
    const body = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        post(patient(a)),
        post({ resourceType: 'Patient', name: [{ family: 'Bad' }], favouriteColour: 'green' }),
        post(patient(c)),
      ],
    };
    const before = await api.historyTotal();
    const result = (await client.batch({ body: body as never })) as unknown as Json;
    expect(responseOf(result).status).toBe(200);
    expect(result.type).toBe('batch-response');
    expect(result.entry).toHaveLength(3);
    expect(result.entry[0].response.status).toMatch(/^201/);
    expect(result.entry[1].response.status).toMatch(/^4\d\d/);
    expect(result.entry[1].response.outcome.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(result.entry[1].response.outcome)).toContain('favouriteColour');
    expect(result.entry[2].response.status).toMatch(/^201/);
    expect(await api.historyTotal()).toBe(before + 2);
    expect((await read(target(result.entry[0].response.location))).identifier[0].value).toBe(a);
    expect((await read(target(result.entry[2].response.location))).identifier[0].value).toBe(c);
  });

  it('GET entries for history, capabilities, system-level or compartment search are each a 400 naming the interaction (not "an invalid id")', async () => {
    const p = await created(patient(fresh()));
    const urls = [`Patient/${p.id}/_history`, 'Patient/_history?_count=1', '_history', 'metadata', '?_type=Patient', `Patient/${p.id}/Observation`];
    const res = await api.post('', { resourceType: 'Bundle', type: 'batch', entry: [...urls.map((url) => ({ request: { method: 'GET', url } })), { request: { method: 'GET', url: `Patient/${p.id}` } }] });
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: Json) => e.response.status.slice(0, 3))).toEqual([...urls.map(() => '400'), '200']);
    const said = res.body.entry.slice(0, urls.length).map((e: Json) => e.response.outcome.issue[0].diagnostics.replace(/^.*: (.*) is not supported in bundle entries.*$/, '$1'));
    expect(said).toEqual(['history', 'history', '_history', 'metadata', 'a system-level search', 'a compartment search']);
  });

  it('a malformed entry of a batch is answered 400 alone; the same in a transaction refuses it whole', async () => {
    const value = fresh();
    const entries = [
      post(patient(value)),
      { resource: patient(fresh()), request: { method: 'PUT', url: `Patient/${'x'.repeat(65)}` } },
      { request: { method: 'FETCH', url: 'Patient' } },
    ];
    const res = await api.post('', { resourceType: 'Bundle', type: 'batch', entry: entries });
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: Json) => e.response.status.slice(0, 3))).toEqual(['201', '400', '400']);
    expect(res.body.entry[1].response.outcome.issue[0].diagnostics).toContain('Bundle.entry[1].request.url has an invalid id');
    expect(res.body.entry[2].response.outcome.issue[0].diagnostics).toContain('Bundle.entry[2].request.method must be');
    expect(await findByIdentifier('Patient', SYS, value)).toHaveLength(1);

    const other = fresh();
    const tx = await api.post('', { resourceType: 'Bundle', type: 'transaction', entry: [post(patient(other)), entries[1]] });
    expect(tx.status).toBe(400);
    expect(tx.body.resourceType).toBe('OperationOutcome');
    expect(await findByIdentifier('Patient', SYS, other)).toHaveLength(0);
  });

  it('a GET entry with ifNoneMatch or ifModifiedSince is a conditional read: 304 without the resource when the copy is current', async () => {
    const created = await api.post('Patient', patient(fresh(), 'Cached'));
    const ref = `Patient/${created.body.id}`;
    const lastModified = created.body.meta.lastUpdated as string;
    const res = await api.post('', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: ref, ifNoneMatch: 'W/"1"' } },
        { request: { method: 'GET', url: ref, ifNoneMatch: 'W/"0"' } },
        { request: { method: 'GET', url: ref, ifModifiedSince: lastModified } },
        { request: { method: 'GET', url: ref, ifModifiedSince: '2001-01-01T00:00:00Z' } },
        { request: { method: 'GET', url: `${ref}/_history/1`, ifNoneMatch: 'W/"1"' } }, // a vread is not conditional
      ],
    });
    expect(res.status).toBe(200);
    const entries = res.body.entry as Json[];
    expect(entries.map((e) => [e.response.status, e.resource?.id])).toEqual([
      ['304 Not Modified', undefined],
      ['200 OK', created.body.id],
      ['304 Not Modified', undefined],
      ['200 OK', created.body.id],
      ['200 OK', created.body.id],
    ]);
    expect(entries[0].response.etag).toBe('W/"1"');
  });

  it('entries of a batch cannot reference each other by urn:uuid: that entry fails alone', async () => {
    const pUrn = urn();
    const value = fresh();
    const res = await api.post('', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [post(patient(value), pUrn), post({ resourceType: 'Observation', status: 'final', code: { text: 'b' }, subject: { reference: pUrn } })],
    });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(/^201/);
    expect(res.body.entry[1].response.status).toMatch(/^400/);
    expect(await findByIdentifier('Patient', SYS, value)).toHaveLength(1);
  });
});

describe('PATCH', () => {
  it('JSON Patch via REST: replace a name and add a telecom: 200, version 2, content changed', async () => {
    const p = await created(patient(fresh(), 'Before'));
    const res = await patch(
      `Patient/${p.id}`,
      [
        { op: 'replace', path: '/name/0/family', value: 'After' },
        { op: 'add', path: '/telecom', value: [{ system: 'phone', value: '555-0100' }] },
      ],
      'application/json-patch+json',
    );
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 200, body: { meta: { versionId: '2' } } });
    expect(res.headers.etag).toBe('W/"2"');
    const expected = { ...withoutServerFields(p), name: [{ family: 'After', given: ['Test'] }], telecom: [{ system: 'phone', value: '555-0100' }] };
    expect(withoutServerFields(res.body)).toEqual(expected);
    expect(withoutServerFields(await read(`Patient/${p.id}`))).toEqual(expected);
  });

  it('JSON Patch with a failing test op is 422 and changes nothing', async () => {
    const p = await created(patient(fresh(), 'Kept'));
    const res = await patch(
      `Patient/${p.id}`,
      [
        { op: 'test', path: '/name/0/family', value: 'Wrong' },
        { op: 'replace', path: '/name/0/family', value: 'Changed' },
      ],
      'application/json-patch+json',
    );
    expectOutcome(res, 422);
    expect(await read(`Patient/${p.id}`)).toEqual(p);
    expect(await api.historyTotal(`Patient/${p.id}`)).toBe(1);
  });

  it('JSON Patch that would make the resource invalid is refused and changes nothing', async () => {
    const p = await created(patient(fresh(), 'Valid'));
    const res = await patch(`Patient/${p.id}`, [{ op: 'add', path: '/gender', value: 'not-a-gender' }], 'application/json-patch+json');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(await read(`Patient/${p.id}`)).toEqual(p);
  });

  it('FHIRPath Patch (a Parameters resource) via REST', async () => {
    const p = await created(patient(fresh(), 'Path', { gender: 'male' }));
    const parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Patient.gender' }, { name: 'value', valueCode: 'female' }] },
        { name: 'operation', part: [{ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Patient' }, { name: 'name', valueString: 'birthDate' }, { name: 'value', valueDate: '1991-02-03' }] },
      ],
    };
    const res = await patch(`Patient/${p.id}`, parameters, 'application/fhir+json');
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 200, body: { meta: { versionId: '2' } } });
    expect(withoutServerFields(await read(`Patient/${p.id}`))).toEqual({ ...withoutServerFields(p), gender: 'female', birthDate: '1991-02-03' });
  });

  it('PATCH inside a transaction: a Binary of JSON Patch and a FHIRPath Patch Parameters', async () => {
    const a = await created(patient(fresh(), 'BinaryBefore'));
    const b = await created(patient(fresh(), 'ParamsBefore'));
    const ops = [{ op: 'replace', path: '/name/0/family', value: 'BinaryAfter' }];
    const res = await api.post(
      '',
      transaction([
        {
          resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(ops)).toString('base64') },
          request: { method: 'PATCH', url: `Patient/${a.id}` },
        },
        {
          resource: {
            resourceType: 'Parameters',
            parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Patient.name[0].family' }, { name: 'value', valueString: 'ParamsAfter' }] }],
          },
          request: { method: 'PATCH', url: `Patient/${b.id}` },
        },
      ]),
    );
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 200 });
    for (const e of res.body.entry as Json[]) {
      expect(e.response.status).toMatch(/^200/);
      expect(e.response.etag).toBe('W/"2"');
    }
    expect((await read(`Patient/${a.id}`)).name[0].family).toBe('BinaryAfter');
    expect((await read(`Patient/${b.id}`)).name[0].family).toBe('ParamsAfter');
  });

  it('a failing PATCH inside a transaction rolls back the other entries', async () => {
    const a = await created(patient(fresh(), 'Stay'));
    const value = fresh();
    await refusedAndNothingStored(
      () =>
        api.post(
          '',
          transaction([
            post(patient(value), urn()),
            {
              resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify([{ op: 'test', path: '/name/0/family', value: 'Nope' }])).toString('base64') },
              request: { method: 'PATCH', url: `Patient/${a.id}` },
            },
          ]),
        ),
      422,
    );
    expect(await findByIdentifier('Patient', SYS, value)).toEqual([]);
    expect(await read(`Patient/${a.id}`)).toEqual(a);
  });
});

describe('XML', () => {
  const xmlPatient = (value: string) =>
    `<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <identifier><system value="${SYS}"/><value value="${value}"/></identifier>
  <active value="true"/>
  <name><family value="Xml"/><given value="Ann"/><given value="Beth"/></name>
  <gender value="female"/>
  <birthDate value="1970-02-03"/>
</Patient>`;

  it('POST as application/fhir+xml: 201, stored as the JSON form of the XML', async () => {
    const value = fresh();
    const res = await api.post('Patient', xmlPatient(value), FHIR_XML);
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 201 });
    expect(res.headers.location).toMatch(/\/fhir\/Patient\/[^/]+\/_history\/1$/);
    expect(withoutServerFields(res.body)).toEqual({
      resourceType: 'Patient',
      identifier: [{ system: SYS, value }],
      active: true,
      name: [{ family: 'Xml', given: ['Ann', 'Beth'] }],
      gender: 'female',
      birthDate: '1970-02-03',
    });
  });

  it('GET with Accept: application/fhir+xml or _format=xml answers XML that parses back to the JSON read', async () => {
    const p = await created({
      ...patient(fresh(), 'XmlOut'),
      text: { status: 'generated', div: `<div xmlns="${XHTML}"><p>Ann &amp; <b>Beth</b></p></div>` },
      extension: [{ url: 'http://example.org/fhir/StructureDefinition/score', valueDecimal: 1.25 }],
      multipleBirthInteger: 2,
    });
    const json = await read(`Patient/${p.id}`);
    const byAccept = await api.get(`Patient/${p.id}`).set('Accept', FHIR_XML).buffer(true).parse(textParser);
    expect(byAccept.status).toBe(200);
    expect(byAccept.headers['content-type']).toMatch(/^application\/fhir\+xml/);
    expect(byAccept.body).toMatch(/^(<\?xml[^>]*>\s*)?<Patient xmlns="http:\/\/hl7.org\/fhir">/);
    expect(xmlToResource(byAccept.body)).toEqual(json);
    const byFormat = await api.get(`Patient/${p.id}?_format=xml`).buffer(true).parse(textParser);
    expect(byFormat.status).toBe(200);
    expect(byFormat.headers['content-type']).toMatch(/^application\/fhir\+xml/);
    expect(xmlToResource(byFormat.body)).toEqual(json);
  });

  it('malformed XML is 400 with an OperationOutcome, and nothing is stored', async () => {
    const before = await api.historyTotal();
    const res = await api.post('Patient', '<Patient xmlns="http://hl7.org/fhir"><active value="true"></Patient>', FHIR_XML).buffer(true).parse(textParser);
    expect(res.status).toBe(400);
    const oo = res.headers['content-type'].startsWith('application/fhir+xml') ? xmlToResource(res.body) : JSON.parse(res.body);
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(await api.historyTotal()).toBe(before);
  });

  it('malformed XML from a client that accepts XML is answered with an XML OperationOutcome', async () => {
    const res = await api.post('Patient', '<Patient xmlns="http://hl7.org/fhir"><active value="true"></Patient>', FHIR_XML).set('Accept', FHIR_XML).buffer(true).parse(textParser);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+xml/);
    expect(xmlToResource(res.body).resourceType).toBe('OperationOutcome');
  });

  it('an error with XML negotiated comes back as an XML OperationOutcome', async () => {
    const res = await api.get(`Patient/${randomUUID()}`).set('Accept', FHIR_XML).buffer(true).parse(textParser);
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+xml/);
    const oo = xmlToResource(res.body) as Json;
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(oo.issue[0].severity).toBe('error');
    const invalid = await api.post('Patient?_format=xml', { resourceType: 'Patient', favouriteColour: 'green' }).buffer(true).parse(textParser);
    expect(invalid.status).toBe(400);
    expect(invalid.headers['content-type']).toMatch(/^application\/fhir\+xml/);
    expect(JSON.stringify(xmlToResource(invalid.body))).toContain('favouriteColour');
  });

  it('a transaction Bundle posted as XML works, urn:uuid references included', async () => {
    const pUrn = urn();
    const value = fresh();
    const xml = `<Bundle xmlns="http://hl7.org/fhir">
  <type value="transaction"/>
  <entry>
    <fullUrl value="${pUrn}"/>
    <resource><Patient><identifier><system value="${SYS}"/><value value="${value}"/></identifier><name><family value="XmlTx"/></name></Patient></resource>
    <request><method value="POST"/><url value="Patient"/></request>
  </entry>
  <entry>
    <resource><Observation><status value="final"/><code><text value="xml"/></code><subject><reference value="${pUrn}"/></subject><valueQuantity><value value="1.50"/><unit value="mg"/></valueQuantity></Observation></resource>
    <request><method value="POST"/><url value="Observation"/></request>
  </entry>
</Bundle>`;
    const res = await api.post('', xml, FHIR_XML).set('Accept', FHIR_XML).buffer(true).parse(textParser);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+xml/);
    const bundle = xmlToResource(res.body) as Json;
    expect(bundle.type).toBe('transaction-response');
    expect(bundle.entry.map((e: Json) => e.response.status)).toEqual([expect.stringMatching(/^201/), expect.stringMatching(/^201/)]);
    const obs = await read(target(bundle.entry[1].response.location));
    expect(obs.subject.reference).toBe(target(bundle.entry[0].response.location));
    expect(obs.valueQuantity).toEqual({ value: 1.5, unit: 'mg' });
    expect(await findByIdentifier('Patient', SYS, value)).toHaveLength(1);
  });
});

describe('conditional interactions via REST', () => {
  it('conditional create (If-None-Exist): 201, then 200 with the same id, and no second resource', async () => {
    const value = fresh();
    const first = await api.post('Patient', patient(value)).set('If-None-Exist', `identifier=${SYS}|${value}`);
    expect({ status: first.status, body: first.body }).toMatchObject({ status: 201 });
    expect(first.headers.location).toContain(`/fhir/Patient/${first.body.id}/_history/1`);
    const before = await api.historyTotal();
    const second = await api.post('Patient', patient(value, 'Other')).set('If-None-Exist', `identifier=${SYS}|${value}`);
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.name[0].family).toBe('Bundle'); // the existing one, untouched
    expect(await api.historyTotal()).toBe(before);
    expect(await findByIdentifier('Patient', SYS, value)).toEqual([first.body.id]);
  });

  it('If-None-Exist matching two resources is 412 and creates nothing', async () => {
    const value = fresh();
    await created(patient(value));
    await created(patient(value));
    await refusedAndNothingStored(() => api.post('Patient', patient(value)).set('If-None-Exist', `identifier=${SYS}|${value}`), 412);
  });

  it('conditional update (PUT Patient?identifier=...): creates (201), then updates (200, version 2); two matches are 412', async () => {
    const value = fresh();
    const first = await api.put(`Patient?identifier=${SYS}|${value}`, patient(value, 'CondFirst'));
    expect({ status: first.status, body: first.body }).toMatchObject({ status: 201 });
    expect(first.headers.location).toContain(`/fhir/Patient/${first.body.id}/_history/1`);
    const second = await api.put(`Patient?identifier=${SYS}|${value}`, patient(value, 'CondSecond'));
    expect({ status: second.status, body: second.body }).toMatchObject({ status: 200, body: { id: first.body.id, meta: { versionId: '2' } } });
    expect((await read(`Patient/${first.body.id}`)).name[0].family).toBe('CondSecond');

    const twice = fresh();
    await created(patient(twice));
    await created(patient(twice));
    await refusedAndNothingStored(() => api.put(`Patient?identifier=${SYS}|${twice}`, patient(twice, 'Nope')), 412);
  });

  it('conditional delete (DELETE Patient?identifier=...): the match is deleted; no match changes nothing', async () => {
    const value = fresh();
    const p = await created(patient(value));
    const res = await api.delete(`Patient?identifier=${SYS}|${value}`);
    expect(res.status).toBe(200);
    expect((await api.get(`Patient/${p.id}`)).status).toBe(410);
    expect(await findByIdentifier('Patient', SYS, value)).toEqual([]);
    const before = await api.historyTotal();
    const none = await api.delete(`Patient?identifier=${SYS}|${fresh()}`);
    expect(none.status).toBe(200);
    expect(await api.historyTotal()).toBe(before);
  });
});

/** Keeps the body as text (supertest would not parse application/fhir+xml). */
function textParser(res: request.Response, callback: (err: Error | null, body: string) => void): void {
  let data = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => (data += chunk));
  res.on('end', () => callback(null, data));
}
