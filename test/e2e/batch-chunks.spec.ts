import { ResourceWriteService } from '../../src/fhir/write/resource-write.service';
import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/** A batch longer than one commit chunk (50 entries): responses stay in order, one failure stays alone. */
describe('large batch', () => {
  let t: TestApp;
  let api: FhirRequest;
  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 120 entries in request order, the invalid one alone failing', async () => {
    const entry = Array.from({ length: 120 }, (_, i) => ({
      resource: i === 75 ? { resourceType: 'Basic', code: { text: `b${i}` }, bogus: true } : { resourceType: 'Basic', code: { text: `b${i}` } },
      request: { method: 'PUT', url: `Basic/chunk-${i}` },
    }));
    entry.forEach((e, i) => ((e.resource as Record<string, unknown>).id = `chunk-${i}`));
    const res = await api.post('', { resourceType: 'Bundle', type: 'batch', entry });
    expect(res.status).toBe(200);
    const statuses = (res.body.entry as Array<{ response: { status: string; location?: string } }>).map((e) => e.response.status);
    expect(statuses).toHaveLength(120);
    expect(statuses[75]).toMatch(/^400/);
    expect(statuses.filter((s) => s.startsWith('201'))).toHaveLength(119);
    expect(res.body.entry[119].response.location).toMatch(/^Basic\/chunk-119\/_history\/1$/);
    expect((await api.get('Basic/chunk-74')).status).toBe(200);
    expect((await api.get('Basic/chunk-75')).status).toBe(404);
    expect((await api.get('Basic/chunk-76')).status).toBe(200);
  });

  type Answer = { response: { status: string; outcome?: { issue: Array<{ diagnostics: string }> } } };
  const stored = async (text: string) => (await api.get(`Basic?code:text=${text}&_summary=count`)).body.total as number;
  /** 120 creates of Basic resources with code texts `${prefix}-${i}`; entry 60 a DELETE (which keeps its chunk off the bulk path), entry 55 invalid. */
  const batchOf = (prefix: string) => {
    const entry: unknown[] = Array.from({ length: 120 }, (_, i) => ({ resource: { resourceType: 'Basic', code: { text: `${prefix}-${i}` } }, request: { method: 'POST', url: 'Basic' } }));
    entry[55] = { resource: { resourceType: 'Basic', code: { text: `${prefix}-55` }, bogus: true }, request: { method: 'POST', url: 'Basic' } };
    entry[60] = { request: { method: 'DELETE', url: 'Basic/never-there' } };
    return { resourceType: 'Bundle', type: 'batch', entry };
  };

  it('answers an entry that fails unexpectedly (not a FHIR refusal) with a 500 of its own, the rest of its chunk written', async () => {
    const writer = t.app.get(ResourceWriteService);
    const createInTx = writer.createInTx.bind(writer);
    const spy = jest.spyOn(writer, 'createInTx').mockImplementation((tx, resource) => {
      if ((resource as { code?: { text?: string } }).code?.text === 'alone-70') return Promise.reject(new Error('simulated: unexpected'));
      return createInTx(tx, resource);
    });
    try {
      const res = await api.post('', batchOf('alone'));
      expect(res.status).toBe(200);
      const answers = res.body.entry as Answer[];
      expect(answers[70].response.status).toBe('500');
      expect(answers[70].response.outcome?.issue[0].diagnostics).toMatch(/^Not written: entry 70 failed \(internal server error, request /);
      expect(answers[70].response.outcome?.issue[0].diagnostics).not.toMatch(/simulated/);
      expect(answers[55].response.status).toMatch(/^400/);
      for (const i of [0, 49, 50, 69, 71, 99, 100, 119]) expect(answers[i].response.status).toMatch(/^201/);
      expect(await stored('alone-69')).toBe(1);
      expect(await stored('alone-70')).toBe(0);
      expect(await stored('alone-71')).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('answers 200 when a chunk transaction fails as a whole: its entries 500 and unwritten, later chunks not attempted, earlier ones written', async () => {
    const writer = t.app.get(ResourceWriteService);
    const createInTx = writer.createInTx.bind(writer);
    const inTransaction = writer.inTransaction.bind(writer);
    let poisoned = false;
    const creates = jest.spyOn(writer, 'createInTx').mockImplementation((tx, resource) => {
      if ((resource as { code?: { text?: string } }).code?.text === 'whole-70') poisoned = true;
      return createInTx(tx, resource);
    });
    // The transaction that wrote entry 70 fails at its end, as a lost connection at the commit would.
    const transactions = jest.spyOn(writer, 'inTransaction').mockImplementation(((ctx: Parameters<typeof inTransaction>[0], fn: Parameters<typeof inTransaction>[1]) =>
      inTransaction(ctx, async (tx) => {
        const result = await fn(tx);
        if (poisoned) throw new Error('simulated: connection terminated');
        return result;
      })) as typeof writer.inTransaction);
    try {
      const res = await api.post('', batchOf('whole'));
      expect(res.status).toBe(200);
      const answers = res.body.entry as Answer[];
      expect(answers).toHaveLength(120);
      for (let i = 0; i < 120; i++) {
        const { status, outcome } = answers[i].response;
        if (i < 50) expect(status).toMatch(/^201/);
        else if (i === 55) expect(status).toMatch(/^400/); // refused before any write: keeps its own answer
        else if (i < 100) {
          expect(status).toBe('500');
          expect(outcome?.issue[0].diagnostics).toMatch(/^Entries 50-99 of this batch shared one database transaction, which failed/);
          expect(outcome?.issue[0].diagnostics).not.toMatch(/connection terminated/);
        } else {
          expect(status).toBe('500');
          expect(outcome?.issue[0].diagnostics).toMatch(/^Not attempted: entries 50-99 of this batch failed in the database first/);
        }
      }
      expect(await stored('whole-49')).toBe(1);
      expect(await stored('whole-51')).toBe(0);
      expect(await stored('whole-70')).toBe(0);
      expect(await stored('whole-100')).toBe(0);
    } finally {
      creates.mockRestore();
      transactions.mockRestore();
    }
  });
});

/**
 * Chunks of plain creates are written two at a time; chunks that could see each other's writes
 * (shared ifNoneExist criteria, conditional references) wait for the one before. ifNoneExist
 * criteria of the form identifier=system|value are matched in one statement per chunk.
 */
describe('batch chunks written side by side', () => {
  let t: TestApp;
  let api: FhirRequest;
  const SYS = 'urn:test:chunks';
  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  type Answer = { response: { status: string; location?: string } };
  const post = async (entry: unknown[]) => {
    const res = await api.post('', { resourceType: 'Bundle', type: 'batch', entry });
    expect(res.status).toBe(200);
    return res.body.entry as Answer[];
  };
  const idOf = (a: Answer) => a.response.location?.split('/')[1];
  const count = async (query: string) => (await api.get(`${query}&_summary=count`)).body.total as number;

  it('creates each resource once when ifNoneExist criteria repeat across chunks, answering the repeats with the first', async () => {
    const entry = Array.from({ length: 150 }, (_, i) => ({
      resource: { resourceType: 'Organization', identifier: [{ system: SYS, value: `org-${i % 60}` }], name: `Org ${i}` },
      request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|org-${i % 60}` },
    }));
    const answers = await post(entry);
    expect(answers.filter((a) => a.response.status.startsWith('201'))).toHaveLength(60);
    expect(answers.filter((a) => a.response.status.startsWith('200'))).toHaveLength(90);
    for (let i = 60; i < 150; i++) expect(idOf(answers[i])).toBe(idOf(answers[i % 60]));
    expect(await count(`Organization?identifier=${SYS}|`)).toBe(60);
  });

  it('writes 200 independent creates once, and a rerun finds every one of them instead of creating again', async () => {
    const entry = Array.from({ length: 200 }, (_, i) => ({
      resource: { resourceType: 'Practitioner', identifier: [{ system: SYS, value: `pr-${i}` }], name: [{ family: `P${i}` }] },
      request: { method: 'POST', url: 'Practitioner', ifNoneExist: `identifier=${SYS}|pr-${i}` },
    }));
    const first = await post(entry);
    expect(first.every((a) => a.response.status.startsWith('201'))).toBe(true);
    const second = await post(entry);
    expect(second.map((a) => a.response.status.slice(0, 3))).toEqual(entry.map(() => '200'));
    expect(second.map(idOf)).toEqual(first.map(idOf));
    expect(await count(`Practitioner?identifier=${SYS}|`)).toBe(200);
  });

  it('resolves a conditional reference to a resource created by an earlier chunk of the same batch', async () => {
    const entry: unknown[] = Array.from({ length: 50 }, (_, i) => ({
      resource: { resourceType: 'Organization', identifier: [{ system: SYS, value: `parent-${i}` }], name: `Parent ${i}` },
      request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|parent-${i}` },
    }));
    for (let i = 0; i < 50; i++) {
      entry.push({
        resource: { resourceType: 'Location', name: `Site ${i}`, managingOrganization: { reference: `Organization?identifier=${SYS}|parent-${i}` } },
        request: { method: 'POST', url: 'Location' },
      });
    }
    const answers = await post(entry);
    expect(answers.every((a) => a.response.status.startsWith('201'))).toBe(true);
    const site = await api.get(`Location/${idOf(answers[77])}`);
    expect(site.body.managingOrganization.reference).toBe(`Organization/${idOf(answers[27])}`);
  });

  it("answers an ifNoneExist with a resource an earlier chunk created without criteria, as in request order", async () => {
    const entry = Array.from({ length: 100 }, (_, i) =>
      i === 60
        ? { resource: { resourceType: 'Organization', identifier: [{ system: SYS, value: 'made-plain' }], name: 'Again' }, request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|made-plain` } }
        : i === 10
          ? { resource: { resourceType: 'Organization', identifier: [{ system: SYS, value: 'made-plain' }], name: 'First' }, request: { method: 'POST', url: 'Organization' } }
          : { resource: { resourceType: 'Organization', identifier: [{ system: SYS, value: `plain-${i}` }], name: `P${i}` }, request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|plain-${i}` } },
    );
    const answers = await post(entry);
    expect(answers[10].response.status).toMatch(/^201/);
    expect(answers[60].response.status).toMatch(/^200/);
    expect(idOf(answers[60])).toBe(idOf(answers[10]));
    expect(await count(`Organization?identifier=${SYS}|made-plain`)).toBe(1);
  });

  it('does not match a deleted resource by its identifier', async () => {
    const created = await api.post('Organization', { resourceType: 'Organization', identifier: [{ system: SYS, value: 'gone' }], name: 'Gone' });
    expect(created.status).toBe(201);
    expect((await api.delete(`Organization/${created.body.id}`)).status).toBeLessThan(300);
    const entry = Array.from({ length: 10 }, (_, i) => ({
      resource: { resourceType: 'Organization', identifier: [{ system: SYS, value: i === 0 ? 'gone' : `fresh-${i}` }], name: `O${i}` },
      request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYS}|${i === 0 ? 'gone' : `fresh-${i}`}` },
    }));
    const answers = await post(entry);
    expect(answers[0].response.status).toMatch(/^201/);
    expect(idOf(answers[0])).not.toBe(created.body.id);
  });

  it('matches Patients by identifier (a field of an encrypted type) on a rerun', async () => {
    const entry = Array.from({ length: 12 }, (_, i) => ({
      resource: { resourceType: 'Patient', identifier: [{ system: SYS, value: `pat-${i}` }], name: [{ family: `Pat${i}` }] },
      request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|pat-${i}` },
    }));
    const first = await post(entry);
    expect(first.every((a) => a.response.status.startsWith('201'))).toBe(true);
    const second = await post(entry);
    expect(second.map((a) => a.response.status.slice(0, 3))).toEqual(entry.map(() => '200'));
    expect(second.map(idOf)).toEqual(first.map(idOf));
  });
});
