import type { Json } from '../helpers/fhir-api';
import { fhirKitClient, type FhirKitClient } from '../helpers/fhir-kit';
import { example, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * The server as a real FHIR client sees it: fhir-kit-client (v2) over HTTP against `${baseUrl}/fhir`,
 * with a bearer token, on the official HL7 R4 examples.
 */

let t: TestApp;
let client: FhirKitClient;

beforeAll(async () => {
  t = await startTestApp();
  client = fhirKitClient(t.baseUrl, t.token);
});

afterAll(async () => {
  await t?.close();
});

/** The HTTP response behind a fhir-kit-client result (a non-enumerable property). */
function responseOf(result: unknown): Response {
  const res = (result as Record<string, unknown>).__response as Response | undefined;
  if (!res) throw new Error('fhir-kit-client result carries no response');
  return res;
}

/** The resource without the server's meta.versionId / meta.lastUpdated (and without meta if nothing else is left). */
function withoutServerMeta(r: Json): Json {
  const { meta, ...rest } = r;
  const { versionId: _v, lastUpdated: _l, ...m } = meta ?? {};
  return Object.keys(m).length ? { ...rest, meta: m } : rest;
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

describe('fhir-kit-client against the server', () => {
  it('reads a CapabilityStatement that tells the truth about the core types', async () => {
    const cs = (await client.capabilityStatement()) as Json;
    expect(cs.resourceType).toBe('CapabilityStatement');
    expect(cs.fhirVersion).toBe('4.0.1');
    expect(cs.format).toEqual(expect.arrayContaining(['application/fhir+json']));
    const server = (cs.rest as Json[]).find((r) => r.mode === 'server') as Json;
    const byType = new Map((server.resource as Json[]).map((r) => [r.type, r]));
    for (const type of ['Patient', 'Practitioner', 'Encounter', 'Observation', 'MedicationRequest', 'Condition']) {
      const interactions = (byType.get(type)?.interaction as Json[] | undefined)?.map((i) => i.code) ?? [];
      expect([type, interactions.sort()]).toEqual([
        type,
        expect.arrayContaining(['create', 'delete', 'history-instance', 'history-type', 'read', 'update', 'vread']),
      ]);
    }
  });

  it('creates, reads, updates, vreads, lists history and deletes a Patient', async () => {
    const source = example<Json>('Patient-example.json');
    const { id: _id, ...rest } = source;
    const body = rest as Json & { resourceType: string };

    const created = (await client.create({ resourceType: 'Patient', body })) as Json;
    const createdRes = responseOf(created);
    expect(createdRes.status).toBe(201);
    expect(created.id).toEqual(expect.any(String));
    expect(created.id).not.toBe('example');
    expect(created.meta.versionId).toBe('1');
    expect(createdRes.headers.get('etag')).toBe('W/"1"');
    expect(createdRes.headers.get('location')).toBe(`${t.baseUrl}/fhir/Patient/${created.id}/_history/1`);
    expect(withoutServerMeta(created)).toEqual({ ...body, id: created.id });

    const read = (await client.read({ resourceType: 'Patient', id: created.id })) as Json;
    expect(read).toEqual(created);
    expect(responseOf(read).headers.get('content-type')).toMatch(/^application\/fhir\+json/);

    const changed = { ...read, resourceType: 'Patient', active: false, birthDate: '1974-12-26' };
    const updated = (await client.update({ resourceType: 'Patient', id: created.id, body: changed })) as Json;
    expect(responseOf(updated).status).toBe(200);
    expect(updated.meta.versionId).toBe('2');
    expect(updated.active).toBe(false);
    expect(withoutServerMeta(updated)).toEqual(withoutServerMeta(changed));

    const v1 = (await client.vread({ resourceType: 'Patient', id: created.id, version: '1' })) as Json;
    expect(v1).toEqual(created);
    const v2 = (await client.vread({ resourceType: 'Patient', id: created.id, version: '2' })) as Json;
    expect(v2).toEqual(updated);

    const history = (await client.resourceHistory({ resourceType: 'Patient', id: created.id })) as Json;
    expect(history.resourceType).toBe('Bundle');
    expect(history.type).toBe('history');
    expect((history.entry as Json[]).map((e) => e.resource.meta.versionId)).toEqual(['2', '1']);
    expect(history.total).toBe(2);

    const typeHistory = (await client.typeHistory({ resourceType: 'Patient' })) as Json;
    expect(typeHistory.type).toBe('history');
    const mine = (typeHistory.entry as Json[]).filter((e) => e.resource?.id === created.id).map((e) => e.resource.meta.versionId);
    expect(mine).toEqual(['2', '1']);

    const deleted = (await client.delete({ resourceType: 'Patient', id: created.id })) as Json;
    expect(responseOf(deleted).status).toBe(200);
    expect(deleted.resourceType).toBe('OperationOutcome');
    const gone = await rejection(client.read({ resourceType: 'Patient', id: created.id }));
    expect(gone.response.status).toBe(410);
    expect(gone.response.data.resourceType).toBe('OperationOutcome');
    // The deletion is a version in the history, the earlier versions stay readable.
    const after = (await client.resourceHistory({ resourceType: 'Patient', id: created.id })) as Json;
    expect(after.total).toBe(3);
    expect(((await client.vread({ resourceType: 'Patient', id: created.id, version: '2' })) as Json).birthDate).toBe('1974-12-26');
  });

  it('round-trips the official examples of the core types unchanged apart from meta (update-as-create with their ids)', async () => {
    type R = Json & { resourceType: string };
    const medicationRequest = example<R>('MedicationRequest-medrx0302.json');
    medicationRequest.subject = { reference: 'Patient/example' };
    medicationRequest.requester = { reference: 'Practitioner/example' };
    delete medicationRequest.encounter;
    const resources: R[] = [
      example<R>('Patient-example.json'),
      example<R>('Practitioner-example.json'),
      example<R>('Encounter-example.json'),
      example<R>('Condition-example.json'),
      example<R>('Observation-example.json'),
      medicationRequest,
    ];
    for (const body of resources) {
      const stored = (await client.update({ resourceType: body.resourceType, id: body.id, body })) as Json;
      expect([body.resourceType, responseOf(stored).status]).toEqual([body.resourceType, 201]);
      expect(stored.meta.versionId).toBe('1');
      const read = (await client.read({ resourceType: body.resourceType, id: body.id })) as Json;
      expect(withoutServerMeta(read)).toEqual(body);
    }
  });

  it('rejects a read of a missing resource with 404 and an OperationOutcome', async () => {
    const err = await rejection(client.read({ resourceType: 'Patient', id: 'no-such-patient' }));
    expect(err.response.status).toBe(404);
    expect(err.response.data.resourceType).toBe('OperationOutcome');
    expect(err.response.data.issue[0]).toMatchObject({ severity: 'error', code: 'not-found' });
  });

  it('rejects an update with a stale If-Match with 412 and changes nothing', async () => {
    const created = (await client.create({ resourceType: 'Practitioner', body: { resourceType: 'Practitioner', name: [{ family: 'Stale' }] } })) as Json;
    await client.update({ resourceType: 'Practitioner', id: created.id, body: { ...created, resourceType: 'Practitioner', active: true } });
    const err = await rejection(
      client.update({ resourceType: 'Practitioner', id: created.id, body: { ...created, resourceType: 'Practitioner', active: false }, options: { headers: { 'If-Match': 'W/"1"' } } }),
    );
    expect(err.response.status).toBe(412);
    expect(err.response.data.resourceType).toBe('OperationOutcome');
    const current = (await client.read({ resourceType: 'Practitioner', id: created.id })) as Json;
    expect([current.meta.versionId, current.active]).toEqual(['2', true]);
  });

  it('is refused without a valid bearer token (401 with an OperationOutcome), except for metadata', async () => {
    const anonymous = fhirKitClient(t.baseUrl, 'not-a-token');
    const err = await rejection(anonymous.read({ resourceType: 'Patient', id: 'example' }));
    expect(err.response.status).toBe(401);
    expect(err.response.data.resourceType).toBe('OperationOutcome');
    expect(((await anonymous.capabilityStatement()) as Json).resourceType).toBe('CapabilityStatement');
  });
});
