import { randomUUID } from 'node:crypto';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * What a transaction means when its entries touch the same resources (http.html#transaction):
 * conditional creates within one transaction, criteria evaluated after the transaction's deletes,
 * Bundle resources as entries, which entry a refusal names, and reads in batches shaped like REST
 * reads. Every refusal is checked to have stored nothing.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SYS = 'urn:oid:1.2.3.4.5.transaction-semantics';

let t: TestApp;
let api: FhirRequest;

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
});

afterAll(async () => {
  await t?.close();
});

const fresh = (prefix = 'v') => `${prefix}-${randomUUID()}`;
const urn = () => `urn:uuid:${randomUUID()}`;
const bundle = (type: 'transaction' | 'batch', entry: Json[]): Json => ({ resourceType: 'Bundle', type, entry });
const patient = (value: string, extra: Json = {}): Json => ({ resourceType: 'Patient', identifier: [{ system: SYS, value }], name: [{ family: 'Tx' }], ...extra });
const post = (resource: Json, ifNoneExist?: string, fullUrl?: string): Json => ({
  ...(fullUrl ? { fullUrl } : {}),
  resource,
  request: { method: 'POST', url: resource.resourceType, ...(ifNoneExist ? { ifNoneExist } : {}) },
});

/** Ids of the current Patients with the identifier, by a REST search. */
async function patientsWith(value: string): Promise<string[]> {
  const res = await api.get(`Patient?identifier=${encodeURIComponent(SYS)}|${encodeURIComponent(value)}`);
  expect(res.status).toBe(200);
  return ((res.body.entry as Json[] | undefined) ?? []).map((e) => e.resource.id as string);
}

/** Sends a Bundle that must be refused; checks that nothing was stored and returns the OperationOutcome. */
async function refused(body: Json, status: number, expression?: string | RegExp): Promise<Json> {
  const before = await api.historyTotal();
  const res = await api.post('', body);
  const oo = expectOutcome(res, status, expression);
  expect(await api.historyTotal()).toBe(before);
  return oo;
}

const diagnostics = (oo: Json) => (oo.issue as Json[]).map((i) => i.diagnostics ?? '').join('\n');

describe('conditional creates within one transaction', () => {
  it('two identical ifNoneExist creates make one resource: the second answers 200 with the first one', async () => {
    const value = fresh();
    const criteria = `identifier=${SYS}|${value}`;
    const res = await api.post('', bundle('transaction', [post(patient(value), criteria), post(patient(value), criteria)]));
    expect(res.status).toBe(200);
    const [first, second] = res.body.entry as Json[];
    expect(first.response.status).toMatch(/^201/);
    expect(second.response.status).toMatch(/^200/);
    expect(second.response.location).toBe(first.response.location);
    expect(await patientsWith(value)).toHaveLength(1);
  });

  it('an ifNoneExist matching what an earlier entry creates without criteria resolves to it; references to its fullUrl follow', async () => {
    const value = fresh();
    const second = urn();
    const res = await api.post(
      '',
      bundle('transaction', [
        post(patient(value)),
        post(patient(value), `identifier=${SYS}|${value}`, second),
        post({ resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: second } }),
      ]),
    );
    expect(res.status).toBe(200);
    const [a, b, obs] = res.body.entry as Json[];
    expect(a.response.status).toMatch(/^201/);
    expect(b.response.status).toMatch(/^200/);
    expect(b.response.location).toBe(a.response.location);
    const [id] = await patientsWith(value);
    expect(await patientsWith(value)).toEqual([id]);
    const stored = await api.get(obs.response.location.replace(/\/_history\/\d+$/, ''));
    expect(stored.body.subject.reference).toBe(`Patient/${id}`);
  });

  it('criteria of other forms (string, date, token without system, reference) see what earlier entries create', async () => {
    const family = `Tx${randomUUID().replace(/-/g, '')}`;
    const value = fresh();
    const p = urn();
    const res = await api.post(
      '',
      bundle('transaction', [
        post(patient(value, { name: [{ family }], birthDate: '1981-04-05' }), undefined, p),
        post(patient(value, { name: [{ family }] }), `family=${family}&birthdate=1981-04-05`),
        post(patient(value), `identifier=${value}`),
        post({ resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient?name=${family}&birthdate=ge1981-01-01` } }),
      ]),
    );
    expect(res.status).toBe(200);
    const [a, b, c, obs] = res.body.entry as Json[];
    expect(a.response.status).toMatch(/^201/);
    expect([b, c].map((e) => e.response.status.slice(0, 3))).toEqual(['200', '200']);
    expect(b.response.location).toBe(a.response.location);
    expect(c.response.location).toBe(a.response.location);
    const [id] = await patientsWith(value);
    expect(await patientsWith(value)).toEqual([id]);
    const stored = await api.get(obs.response.location.replace(/\/_history\/\d+$/, ''));
    expect(stored.body.subject.reference).toBe(`Patient/${id}`);
  });

  it('a created resource that does not match such criteria is not taken for a match', async () => {
    const family = `Tx${randomUUID().replace(/-/g, '')}`;
    const value = fresh();
    const res = await api.post(
      '',
      bundle('transaction', [
        post(patient(value, { name: [{ family }], birthDate: '1981-04-05' })),
        post(patient(value, { name: [{ family }] }), `family=${family}&birthdate=1990`),
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: Json) => e.response.status.slice(0, 3))).toEqual(['201', '201']);
    expect(await patientsWith(value)).toHaveLength(2);
  });

  it('a conditional update whose criteria match what an earlier POST of the transaction creates names that resource (overlap: 400, no made-up id)', async () => {
    const value = fresh();
    // POSTs run before PUTs (R4 order): the PUT's criteria see the POST's Patient, and one resource
    // changed by two entries is refused (http.html#transaction: identities may not overlap).
    const res = await api.post(
      '',
      bundle('transaction', [
        post(patient(value), `identifier=${SYS}|${value}`),
        { resource: patient(value, { gender: 'female' }), request: { method: 'PUT', url: `Patient?identifier=${SYS}|${value}` } },
      ]),
    );
    const oo = expectOutcome(res, 400, /^Bundle\.entry\[1\]/);
    expect(diagnostics(oo)).toContain('Bundle.entry[0]');
    expect(diagnostics(oo)).not.toMatch(/Patient\/[A-Za-z0-9-]{20,}/); // the id made for the rolled-back entry never existed
    expect(await patientsWith(value)).toHaveLength(0);
  });

  it('as a batch, identical conditional creates still make one resource (201, then 200)', async () => {
    const value = fresh();
    const criteria = `identifier=${SYS}|${value}`;
    const res = await api.post('', bundle('batch', [post(patient(value), criteria), post(patient(value), criteria)]));
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: Json) => e.response.status.slice(0, 3))).toEqual(['201', '200']);
    expect(await patientsWith(value)).toHaveLength(1);
  });
});

describe('criteria are evaluated after the transaction deletes (DELETE runs first)', () => {
  it('ifNoneExist matching only a resource the same transaction deletes creates a new one (201)', async () => {
    const value = fresh();
    const id = `tx-${randomUUID().slice(0, 8)}`;
    expect((await api.put(`Patient/${id}`, { ...patient(value), id })).status).toBe(201);
    const res = await api.post(
      '',
      bundle('transaction', [post(patient(value), `identifier=${SYS}|${value}`), { request: { method: 'DELETE', url: `Patient/${id}` } }]),
    );
    expect(res.status).toBe(200);
    const [created, deleted] = res.body.entry as Json[];
    expect(created.response.status).toMatch(/^201/);
    expect(created.response.location).not.toContain(`Patient/${id}/`);
    expect(deleted.response.status).toMatch(/^204/);
    expect((await api.get(`Patient/${id}`)).status).toBe(410);
    const now = await patientsWith(value);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(id);
  });

  it('a conditional reference matching only a deleted resource matches nothing (400 naming the entry); a conditional update creates', async () => {
    const value = fresh();
    const id = `tx-${randomUUID().slice(0, 8)}`;
    expect((await api.put(`Patient/${id}`, { ...patient(value), id })).status).toBe(201);
    const oo = await refused(
      bundle('transaction', [
        { request: { method: 'DELETE', url: `Patient/${id}` } },
        post({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient?identifier=${SYS}|${value}` } }),
      ]),
      400,
      'Bundle.entry[1]',
    );
    expect(diagnostics(oo)).toContain('matches no resource');
    const res = await api.post(
      '',
      bundle('transaction', [
        { request: { method: 'DELETE', url: `Patient/${id}` } },
        { resource: patient(value, { gender: 'male' }), request: { method: 'PUT', url: `Patient?identifier=${SYS}|${value}` } },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body.entry[1].response.status).toMatch(/^201/);
    expect(res.body.entry[1].response.location).not.toContain(`Patient/${id}/`);
    expect((await api.get(`Patient/${id}`)).status).toBe(410);
  });
});

describe('a Bundle resource as an entry', () => {
  const documentBundle = (): Json => {
    const p = urn();
    return {
      resourceType: 'Bundle',
      type: 'document',
      identifier: { system: SYS, value: fresh('doc') },
      timestamp: '2024-05-01T10:00:00Z',
      entry: [
        {
          fullUrl: urn(),
          resource: {
            resourceType: 'Composition',
            status: 'final',
            type: { coding: [{ system: 'http://loinc.org', code: '11503-0' }] },
            subject: { reference: p },
            date: '2024-05-01T10:00:00Z',
            author: [{ reference: p }],
            title: 'Note',
          },
        },
        { fullUrl: p, resource: { resourceType: 'Patient', name: [{ family: 'Inside' }] } },
      ],
    };
  };

  it('references inside a nested document are its own: stored as sent, in a transaction and in a batch', async () => {
    const doc = documentBundle();
    expect((await api.post('Bundle', doc)).status).toBe(201);
    for (const type of ['transaction', 'batch'] as const) {
      const sent = documentBundle();
      const res = await api.post('', bundle(type, [post(sent)]));
      expect(res.status).toBe(200);
      expect(res.body.entry[0].response.status).toMatch(/^201/);
      const stored = await api.get(res.body.entry[0].response.location.replace(/\/_history\/\d+$/, ''));
      expect(stored.body.entry[0].resource.subject.reference).toBe(sent.entry[1].fullUrl);
      expect(stored.body.entry[1].fullUrl).toBe(sent.entry[1].fullUrl);
    }
  });
});

describe('a refused transaction names the entry', () => {
  it('a reference to a Patient that does not exist names the entry that holds it', async () => {
    const oo = await refused(
      bundle('transaction', [
        post(patient(fresh())),
        post({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/does-not-exist' } }),
      ]),
      400,
      'Bundle.entry[1]',
    );
    expect(diagnostics(oo)).toContain('Bundle.entry[1] (POST Observation)');
    expect(diagnostics(oo)).toContain('Patient/does-not-exist');
  });

  it('deleting a Patient that is still referenced names the DELETE entry (409)', async () => {
    const id = `tx-${randomUUID().slice(0, 8)}`;
    expect((await api.put(`Patient/${id}`, { ...patient(fresh()), id })).status).toBe(201);
    expect((await api.post('Observation', { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${id}` } })).status).toBe(201);
    const oo = await refused(bundle('transaction', [post(patient(fresh())), { request: { method: 'DELETE', url: `Patient/${id}` } }]), 409, 'Bundle.entry[1]');
    expect(diagnostics(oo)).toContain('Bundle.entry[1] (DELETE Patient)');
  });

  it('an invalid entry is named in diagnostics and expression', async () => {
    const oo = await refused(bundle('transaction', [post(patient(fresh())), post({ resourceType: 'Patient', gender: 'sometimes' })]), 400, /^Bundle\.entry\[1\]/);
    expect(diagnostics(oo)).toContain('Bundle.entry[1] (POST Patient)');
  });
});

describe('reads in a batch are shaped like REST reads', () => {
  it('_elements and _summary on read and vread entries subset the resource and tag it SUBSETTED', async () => {
    const id = `tx-${randomUUID().slice(0, 8)}`;
    expect((await api.put(`Patient/${id}`, { ...patient(fresh()), id, gender: 'female', birthDate: '1970-01-01' })).status).toBe(201);
    const direct = await api.get(`Patient/${id}?_elements=gender`);
    const res = await api.post(
      '',
      bundle('batch', [
        { request: { method: 'GET', url: `Patient/${id}?_elements=gender` } },
        { request: { method: 'GET', url: `Patient/${id}/_history/1?_summary=true` } },
        { request: { method: 'GET', url: `Patient/${id}?_summary=count` } },
        { request: { method: 'GET', url: `Patient/${id}` } },
      ]),
    );
    expect(res.status).toBe(200);
    const [elements, summary, count, whole] = (res.body.entry as Json[]).map((e) => e);
    expect(elements.resource).toEqual(direct.body);
    expect(elements.resource.gender).toBe('female');
    expect(elements.resource.name).toBeUndefined();
    expect(elements.resource.meta.tag).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'SUBSETTED' })]));
    expect(summary.resource.name).toBeDefined(); // name is a summary element, birthDate too; text is not
    expect(summary.resource.meta.tag).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'SUBSETTED' })]));
    expect(count.response.status).toMatch(/^400/);
    expect(whole.resource.name).toBeDefined();
    expect(whole.resource.meta.tag ?? []).not.toEqual(expect.arrayContaining([expect.objectContaining({ code: 'SUBSETTED' })]));
  });
});
