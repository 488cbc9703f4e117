import { randomUUID } from 'node:crypto';
import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Batch chunks written in bulk (BundleService.bulkChunk): every entry must be answered exactly as
 * entry by entry, including entries that depend on earlier entries of the same chunk, failures
 * (the chunk falls back to savepoints) and concurrent conditional creates.
 */
describe('batch chunks in bulk', () => {
  let t: TestApp;
  let api: FhirRequest;
  const SYS = 'urn:test:bulk';
  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  type Entry = { resource?: Record<string, unknown>; request: { method: string; url: string; ifNoneExist?: string } };
  const batch = async (entry: Entry[]) => {
    const res = await api.post('', { resourceType: 'Bundle', type: 'batch', entry });
    expect(res.status).toBe(200);
    return res.body.entry as Array<{ response: { status: string; location?: string; outcome?: { issue: Array<{ diagnostics: string }> } } }>;
  };
  const idOf = (e: { response: { location?: string } }) => e.response.location?.split('/')[1];
  const org = (value: string, name = 'Org') => ({ resourceType: 'Organization', identifier: [{ system: SYS, value }], name });
  const count = async (type: string, query: string) => (await api.get(`${type}?${query}&_summary=count`)).body.total as number;

  it('a second ifNoneExist in the same chunk finds what the first created (plain and encrypted types)', async () => {
    const v = randomUUID();
    const patient = { resourceType: 'Patient', identifier: [{ system: SYS, value: v }], name: [{ family: 'Bulk' }] };
    const out = await batch([
      { resource: org(v), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}` } },
      { resource: patient, request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|${v}` } },
      { resource: org(v, 'Again'), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}` } },
      { resource: patient, request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|${v}` } },
    ]);
    expect(out.map((e) => e.response.status)).toEqual(['201 Created', '201 Created', '200 OK', '200 OK']);
    expect(idOf(out[2])).toBe(idOf(out[0]));
    expect(idOf(out[3])).toBe(idOf(out[1]));
    expect(await count('Organization', `identifier=${SYS}|${v}`)).toBe(1);
    expect(await count('Patient', `identifier=${SYS}|${v}`)).toBe(1);
    // A rerun matches the stored ones.
    const again = await batch([
      { resource: org(v), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}` } },
      { resource: patient, request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|${v}` } },
    ]);
    expect(again.map((e) => [e.response.status, idOf(e)])).toEqual([
      ['200 OK', idOf(out[0])],
      ['200 OK', idOf(out[1])],
    ]);
  });

  it('a conditional reference resolves to a resource created earlier in the same chunk', async () => {
    const v = randomUUID();
    const out = await batch([
      { resource: org(v), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}` } },
      {
        resource: { resourceType: 'Location', name: 'Ward', managingOrganization: { reference: `Organization?identifier=${SYS}|${v}` } },
        request: { method: 'POST', url: 'Location' },
      },
    ]);
    expect(out.map((e) => e.response.status)).toEqual(['201 Created', '201 Created']);
    const location = await api.get(`Location/${idOf(out[1])}`);
    expect(location.body.managingOrganization.reference).toBe(`Organization/${idOf(out[0])}`);
  });

  it('criteria the chunk cannot match in memory (name) still see the earlier entries', async () => {
    const name = `Bulk${randomUUID().slice(0, 8)}`;
    const out = await batch([
      { resource: { resourceType: 'Organization', name }, request: { method: 'POST', url: 'Organization' } },
      { resource: { resourceType: 'Organization', name }, request: { method: 'POST', url: 'Organization', ifNoneExist: `name:exact=${name}` } },
    ]);
    expect(out.map((e) => e.response.status)).toEqual(['201 Created', '200 OK']);
    expect(idOf(out[1])).toBe(idOf(out[0]));
    expect(await count('Organization', `name:exact=${name}`)).toBe(1);
  });

  it('an entry that fails in the database fails alone; the others of its chunk are stored', async () => {
    const v = randomUUID();
    const out = await batch([
      { resource: org(`${v}-a`), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}-a` } },
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${v}` } }, request: { method: 'POST', url: 'Observation' } },
      { resource: org(`${v}-b`), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}-b` } },
      { resource: { resourceType: 'Location', name: 'Nowhere', managingOrganization: { reference: `Organization?identifier=${SYS}|none-${v}` } }, request: { method: 'POST', url: 'Location' } },
    ]);
    expect(out.map((e) => e.response.status.slice(0, 3))).toEqual(['201', '400', '201', '400']);
    expect(out[1].response.outcome?.issue[0].diagnostics).toMatch(/Patient\//);
    expect(out[3].response.outcome?.issue[0].diagnostics).toMatch(/matches no resource/);
    expect(await count('Organization', `identifier=${SYS}|${v}-a`)).toBe(1);
    expect(await count('Organization', `identifier=${SYS}|${v}-b`)).toBe(1);
  });

  it('a foreign key failing at commit (an Encounter naming an unknown Practitioner) fails that entry alone', async () => {
    const v = randomUUID();
    const patient = await api.post('Patient', { resourceType: 'Patient', name: [{ family: 'Fk' }] }).expect(201);
    const out = await batch([
      { resource: org(`${v}-a`), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}-a` } },
      {
        resource: {
          resourceType: 'Encounter',
          status: 'finished',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          subject: { reference: `Patient/${patient.body.id}` },
          participant: [{ individual: { reference: `Practitioner/${v}` } }],
        },
        request: { method: 'POST', url: 'Encounter' },
      },
      { resource: org(`${v}-b`), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}-b` } },
    ]);
    expect(out.map((e) => e.response.status.slice(0, 3))).toEqual(['201', '400', '201']);
    expect(out[1].response.outcome?.issue[0].diagnostics).toMatch(/Practitioner/);
    expect(await count('Organization', `identifier=${SYS}|${v}-b`)).toBe(1);
    expect(await count('Encounter', `subject=Patient/${patient.body.id}`)).toBe(0);
  });

  it('an ifNoneExist matching two resources is 412 for that entry alone', async () => {
    const v = randomUUID();
    await api.post('Organization', org(v)).expect(201);
    await api.post('Organization', org(v)).expect(201);
    const out = await batch([
      { resource: org(v), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}` } },
      { resource: org(`${v}-other`), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}-other` } },
    ]);
    expect(out.map((e) => e.response.status.slice(0, 3))).toEqual(['412', '201']);
  });

  it('concurrent batches with the same ifNoneExist criteria create each resource once', async () => {
    const values = Array.from({ length: 30 }, () => randomUUID());
    const entries = (order: string[]) => order.map((v) => ({ resource: org(v), request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${v}` } }));
    const [a, b, c] = await Promise.all([batch(entries(values)), batch(entries([...values].reverse())), batch(entries(values))]);
    for (const out of [a, b, c]) expect(out.every((e) => /^20[01]/.test(e.response.status))).toBe(true);
    for (const v of values) expect(await count('Organization', `identifier=${SYS}|${v}`)).toBe(1);
    const created = [...a, ...b, ...c].filter((e) => e.response.status.startsWith('201')).length;
    expect(created).toBe(30);
  });
});
