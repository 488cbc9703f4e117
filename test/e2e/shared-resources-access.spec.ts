import request from 'supertest';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import type { Json } from '../helpers/fhir-api';
import { labObservation, patient } from '../helpers/resources';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Resources that belong to no patient (stored with no owner) but may still be about one: a
 * patient token for A sees such a resource only when every Patient it refers to is A (or its type
 * cannot refer to a Patient at all), and never a Subscription (whose channel.header holds another
 * system's credentials), in reads, vreads, history, searches, _include, chains, _has, $everything
 * and bundle entries. Subscriptions are read by administrators only; other writers get their
 * headers masked in the answers to their writes.
 */

let t: TestApp;
let admin: FhirRequest;
let asA: FhirRequest;
let ehr: FhirRequest;

const ids = {} as Record<'a' | 'b' | 'org' | 'grA' | 'grB' | 'contractB' | 'verB' | 'sub' | 'obsFocusGrB' | 'obsFocusGrA' | 'grMoved' | 'orgExtB' | 'orgContained' | 'grExtB' | 'obsFocusGrExtB', string>;
const SECRET = 'Authorization: Bearer SUPERSECRET';

const server = () => t.app.getHttpServer();

async function created(resource: Json): Promise<string> {
  const res = await admin.post(resource.resourceType, resource);
  if (res.status !== 201) throw new Error(`create ${resource.resourceType} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

async function newClient(body: Json): Promise<{ client_id: string; client_secret: string }> {
  const res = await request(server()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
  if (res.status !== 201) throw new Error(`POST /api/clients answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function matches(api: FhirRequest, path: string, mode: 'match' | 'include' = 'match'): Promise<string[]> {
  const res = await api.get(path);
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return ((res.body.entry ?? []) as Json[])
    .filter((e) => e.search?.mode === mode)
    .map((e) => `${e.resource.resourceType}/${e.resource.id}`)
    .sort();
}

const guidance = (patientId: string) => ({ resourceType: 'GuidanceResponse', moduleUri: 'http://example.org/module', status: 'success', subject: { reference: `Patient/${patientId}` } });

beforeAll(async () => {
  t = await startTestApp();
  admin = FhirRequest.of(t);
  ids.a = await created(patient({ family: 'Alphashared' }));
  ids.b = await created(patient({ family: 'Bravoshared' }));
  ids.org = await created({ resourceType: 'Organization', name: 'Shared Org' });
  ids.grA = await created(guidance(ids.a));
  ids.grB = await created(guidance(ids.b));
  ids.contractB = await created({ resourceType: 'Contract', status: 'executed', subject: [{ reference: `Patient/${ids.b}` }], authority: [{ reference: `Organization/${ids.org}` }] });
  ids.verB = await created({ resourceType: 'VerificationResult', status: 'validated', target: [{ reference: `Patient/${ids.b}` }] });
  ids.sub = await created({
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'watch B',
    criteria: `Observation?subject=Patient/${ids.b}`,
    channel: { type: 'rest-hook', endpoint: 'https://93.184.216.34/hook', payload: 'application/fhir+json', header: [SECRET] },
  });
  ids.obsFocusGrB = await created(labObservation(ids.a, { focus: [{ reference: `GuidanceResponse/${ids.grB}` }] }));
  ids.obsFocusGrA = await created(labObservation(ids.a, { focus: [{ reference: `GuidanceResponse/${ids.grA}` }] }));
  // A shared resource that was about B (version 1) and is about A now (version 2).
  ids.grMoved = await created(guidance(ids.b));
  const moved = await admin.put(`GuidanceResponse/${ids.grMoved}`, { ...guidance(ids.a), id: ids.grMoved });
  expect(moved.status).toBe(200);
  // Patients named where the reference index does not look: an extension, a contained Patient.
  const aboutB = { url: 'http://example.org/fhir/StructureDefinition/about', valueReference: { reference: `Patient/${ids.b}` } };
  ids.orgExtB = await created({ resourceType: 'Organization', name: 'Org naming B in an extension', extension: [aboutB] });
  // A contained resource is referred to from its container (dom-3): here by an extension.
  const holds = { url: 'http://example.org/fhir/StructureDefinition/holds', valueReference: { reference: '#p' } };
  ids.orgContained = await created({ resourceType: 'Organization', name: 'Org holding a Patient', extension: [holds], contained: [{ resourceType: 'Patient', id: 'p', name: [{ family: 'Contained' }] }] });
  ids.grExtB = await created({ ...guidance(ids.a), extension: [aboutB] });
  ids.obsFocusGrExtB = await created(labObservation(ids.a, { focus: [{ reference: `GuidanceResponse/${ids.grExtB}` }] }));
  const patientA = await newClient({ role: 'patient', patient: `Patient/${ids.a}` });
  asA = FhirRequest.of(t, await fetchToken(t.app, patientA.client_id, patientA.client_secret));
  const ehrClient = await newClient({ role: 'ehr-system' });
  ehr = FhirRequest.of(t, await fetchToken(t.app, ehrClient.client_id, ehrClient.client_secret));
});

afterAll(async () => {
  await t?.close();
});

describe("a patient token for A and shared resources about B", () => {
  it("reads, vreads and instance history of B's GuidanceResponse, Contract and VerificationResult answer 404; A's and an Organization's 200", async () => {
    for (const path of [`GuidanceResponse/${ids.grB}`, `Contract/${ids.contractB}`, `VerificationResult/${ids.verB}`, `GuidanceResponse/${ids.grB}/_history/1`, `GuidanceResponse/${ids.grB}/_history`]) {
      expect([path, (await asA.get(path)).status]).toEqual([path, 404]);
      expect([path, (await admin.get(path)).status]).toEqual([path, 200]);
    }
    expect((await asA.get(`GuidanceResponse/${ids.grA}`)).status).toBe(200);
    expect((await asA.get(`Organization/${ids.org}`)).status).toBe(200);
  });

  it('a shared resource that named B in an earlier version: its current version is readable, the earlier one is not', async () => {
    expect((await asA.get(`GuidanceResponse/${ids.grMoved}`)).status).toBe(200);
    expectOutcome(await asA.get(`GuidanceResponse/${ids.grMoved}/_history/1`), 404);
    const history = await asA.get(`GuidanceResponse/${ids.grMoved}/_history`);
    expect(history.status).toBe(200);
    expect((history.body.entry as Json[]).map((e) => e.resource?.meta?.versionId)).toEqual(['2']);
  });

  it('searches of the shared types find only what is about A, and count only that', async () => {
    expect(await matches(asA, 'GuidanceResponse')).toEqual([`GuidanceResponse/${ids.grA}`, `GuidanceResponse/${ids.grMoved}`].sort());
    expect(await matches(asA, 'Contract')).toEqual([]);
    expect(await matches(asA, 'VerificationResult')).toEqual([]);
    expect(await matches(asA, `GuidanceResponse?subject=Patient/${ids.b}`)).toEqual([]);
    const total = await asA.get('Contract?_summary=count');
    expect(total.body.total).toBe(0);
    expect(await matches(asA, '/fhir?_type=GuidanceResponse,Contract,VerificationResult')).toEqual([`GuidanceResponse/${ids.grA}`, `GuidanceResponse/${ids.grMoved}`].sort());
    expect(await matches(admin, 'Contract')).toEqual([`Contract/${ids.contractB}`]);
  });

  it('_include, chains and _has do not reach shared resources about B', async () => {
    expect(await matches(asA, `Observation?_id=${ids.obsFocusGrB}&_include=Observation:focus`, 'include')).toEqual([]);
    expect(await matches(admin, `Observation?_id=${ids.obsFocusGrB}&_include=Observation:focus`, 'include')).toEqual([`GuidanceResponse/${ids.grB}`]);
    expect(await matches(asA, `Observation?focus:GuidanceResponse.subject=Patient/${ids.b}`)).toEqual([]);
    expect(await matches(admin, `Observation?focus:GuidanceResponse.subject=Patient/${ids.b}`)).toEqual([`Observation/${ids.obsFocusGrB}`]);
    // A's own Observations, whatever else the GuidanceResponse they focus on names.
    expect(await matches(asA, `Observation?focus:GuidanceResponse.subject=Patient/${ids.a}`)).toEqual([`Observation/${ids.obsFocusGrA}`, `Observation/${ids.obsFocusGrExtB}`].sort());
    expect(await matches(asA, `Organization?_has:Contract:authority:subject=Patient/${ids.b}`)).toEqual([]);
    expect(await matches(admin, `Organization?_has:Contract:authority:subject=Patient/${ids.b}`)).toEqual([`Organization/${ids.org}`]);
  });

  it("$everything of A leaves out the shared GuidanceResponse about B that A's Observation points at", async () => {
    const res = await asA.get(`Patient/${ids.a}/$everything`);
    expect(res.status).toBe(200);
    const refs = (res.body.entry as Json[]).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    expect(refs).toContain(`GuidanceResponse/${ids.grA}`);
    expect(refs).not.toContain(`GuidanceResponse/${ids.grB}`);
  });

  it('a shared resource naming B only in an extension or holding a contained Patient is hidden from A too, whatever its type, in reads and $everything', async () => {
    for (const path of [`Organization/${ids.orgExtB}`, `Organization/${ids.orgContained}`, `GuidanceResponse/${ids.grExtB}`]) {
      expect([path, (await asA.get(path)).status]).toEqual([path, 404]);
      expect([path, (await admin.get(path)).status]).toEqual([path, 200]);
    }
    const everything = await asA.get(`Patient/${ids.a}/$everything?_count=1000`);
    const refs = (everything.body.entry as Json[]).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    expect(refs).toContain(`Observation/${ids.obsFocusGrExtB}`);
    expect(refs).not.toContain(`GuidanceResponse/${ids.grExtB}`);
  });

  it('a bundle GET entry of the shared resource about B answers 404', async () => {
    const res = await asA.post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `GuidanceResponse/${ids.grB}` } }, { request: { method: 'GET', url: `GuidanceResponse/${ids.grA}` } }] });
    expect(res.status).toBe(200);
    expect((res.body.entry as Json[]).map((e) => e.response.status.split(' ')[0])).toEqual(['404', '200']);
  });
});

describe('Binary attachments (binary.html: a Binary follows the access rules of its securityContext)', () => {
  const binary = (text: string, securityContext?: string) => ({
    resourceType: 'Binary',
    contentType: 'text/plain',
    data: Buffer.from(text).toString('base64'),
    ...(securityContext ? { securityContext: { reference: securityContext } } : {}),
  });

  it("a Binary whose securityContext is B's resource, or that has none, is hidden from A; one of A's is A's", async () => {
    const obsB = await created(labObservation(ids.b));
    const obsA = await created(labObservation(ids.a));
    const ofB = await created(binary('B note', `Observation/${obsB}`));
    const none = await created(binary('whose note'));
    const ofA = await created(binary('A note', `Observation/${obsA}`));
    // Uploaded in its native form, the securityContext from X-Security-Context.
    const native = await request(server())
      .post('/fhir/Binary')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'text/plain')
      .set('X-Security-Context', `Observation/${obsB}`)
      .send('B native note');
    expect(native.status).toBe(201);
    const nativeB = /Binary\/([^/]+)/.exec(native.headers.location)?.[1] as string;
    // In a transaction with the resource it belongs to.
    const tx = await admin.post('', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:5d0c4f43-0d3e-4a59-9d5b-3c1f3d3f0b01', resource: labObservation(ids.b), request: { method: 'POST', url: 'Observation' } },
        { resource: binary('B tx note', 'urn:uuid:5d0c4f43-0d3e-4a59-9d5b-3c1f3d3f0b01'), request: { method: 'POST', url: 'Binary' } },
      ],
    });
    expect(tx.status).toBe(200);
    const txB = /Binary\/([^/]+)/.exec(tx.body.entry[1].response.location as string)?.[1] as string;
    for (const id of [ofB, none, nativeB, txB]) {
      for (const suffix of ['', '/_history/1', '/_history']) expect([id, suffix, (await asA.get(`Binary/${id}${suffix}`)).status]).toEqual([id, suffix, 404]);
      expect((await admin.get(`Binary/${id}`)).status).toBe(200);
    }
    expect((await asA.get(`Binary/${ofA}`)).status).toBe(200);
    expect(await matches(asA, 'Binary?_count=1000')).toEqual([`Binary/${ofA}`]);
    expect((await asA.get('Binary?_summary=count')).body.total).toBe(1);
    const everything = await asA.get(`Patient/${ids.a}/$everything?_count=1000`);
    const refs = (everything.body.entry as Json[]).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    expect(refs).toContain(`Binary/${ofA}`);
    for (const id of [ofB, none, nativeB, txB]) expect(refs).not.toContain(`Binary/${id}`);
  });
});

describe('Subscriptions', () => {
  it('a patient token gets 403 by every way of reading them, and system search leaves them out', async () => {
    for (const path of ['Subscription', `Subscription/${ids.sub}`, `Subscription/${ids.sub}/_history`, '/fhir?_type=Subscription']) expectOutcome(await asA.get(path), 403);
    const all = await asA.get('/fhir?_count=1000');
    expect(JSON.stringify(all.body)).not.toContain('SUPERSECRET');
  });

  it('a non-administrator token (ehr-system) cannot read them either; system history leaves them out', async () => {
    expectOutcome(await ehr.get(`Subscription/${ids.sub}`), 403);
    expectOutcome(await ehr.get('Subscription'), 403);
    const history = await ehr.get('_history?_count=1000');
    expect(history.status).toBe(200);
    expect(JSON.stringify(history.body)).not.toContain('SUPERSECRET');
  });

  it("an ehr-system token may still write one, but the answers to its writes mask the header values; the administrator reads them", async () => {
    const body = { resourceType: 'Subscription', status: 'requested', reason: 'mine', criteria: 'Observation?code=1234-5', channel: { type: 'rest-hook', endpoint: 'https://93.184.216.34/ehr', header: ['X-Api-Key: EHRSECRET'] } };
    const res = await ehr.post('Subscription', body);
    expect(res.status).toBe(201);
    expect(res.body.channel.header).toEqual(['X-Api-Key: (hidden)']);
    const patched = await ehr.patch(`Subscription/${ids.sub}`, [{ op: 'replace', path: '/reason', value: 'still B' }]);
    expect(patched.status).toBe(200);
    expect(JSON.stringify(patched.body)).not.toContain('SUPERSECRET');
    const read = await admin.get(`Subscription/${res.body.id}`);
    expect(read.body.channel.header).toEqual(['X-Api-Key: EHRSECRET']);
  });
});
