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
