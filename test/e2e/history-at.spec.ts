import { FhirRequest, linkPath } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/** `_at` on history: the versions that were current at some point of the period its value covers. */
describe('history _at', () => {
  let t: TestApp;
  let api: FhirRequest;
  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('returns, per resource, the version current at the instant', async () => {
    const first = await api.put('Basic/at-1', { resourceType: 'Basic', id: 'at-1', code: { text: 'one' } });
    expect(first.status).toBe(201);
    const afterFirst = new Date(Date.parse(first.body.meta.lastUpdated) + 1).toISOString();
    await new Promise((r) => setTimeout(r, 20));
    const second = await api.put('Basic/at-1', { resourceType: 'Basic', id: 'at-1', code: { text: 'two' } });
    expect(second.body.meta.versionId).toBe('2');

    const atFirst = await api.get(`Basic/at-1/_history?_at=${encodeURIComponent(afterFirst)}`);
    expect(atFirst.status).toBe(200);
    expect(atFirst.body.entry.map((e: { resource: { meta: { versionId: string } } }) => e.resource.meta.versionId)).toEqual(['1']);

    const now = await api.get(`Basic/at-1/_history?_at=${encodeURIComponent(new Date(Date.now() + 1000).toISOString())}`);
    expect(now.body.entry.map((e: { resource: { meta: { versionId: string } } }) => e.resource.meta.versionId)).toEqual(['2']);
    expect(now.body.total).toBe(1);

    const before = await api.get(`Basic/at-1/_history?_at=2000-01-01T00:00:00Z`);
    expect(before.body.total).toBe(0);
  });

  it('takes a dateTime of any precision: every version current during that year, month or day', async () => {
    for (const text of ['one', 'two', 'three']) await api.put('Basic/at-2', { resourceType: 'Basic', id: 'at-2', code: { text } });
    const versions = (b: { entry?: Array<{ resource: { meta: { versionId: string } } }> }) => (b.entry ?? []).map((e) => e.resource.meta.versionId);
    const today = new Date().toISOString();
    for (const at of [today.slice(0, 4), today.slice(0, 7), today.slice(0, 10)]) {
      const res = await api.get(`Basic/at-2/_history?_at=${at}`);
      expect({ at, status: res.status, versions: versions(res.body) }).toEqual({ at, status: 200, versions: ['3', '2', '1'] });
    }
    // A day before the first version: none; a later year: the last one only (current then).
    expect((await api.get('Basic/at-2/_history?_at=2001-05-02')).body.total).toBe(0);
    expect(versions((await api.get(`Basic/at-2/_history?_at=${Number(today.slice(0, 4)) + 1}`)).body)).toEqual(['3']);
    // The links name what was applied: _at, not the unsupported _list.
    const self = ((await api.get(`Basic/at-2/_history?_at=${today.slice(0, 4)}&_list=List/x`)).body.link as Array<{ relation: string; url: string }>).find((l) => l.relation === 'self')?.url as string;
    expect(new URL(self).searchParams.get('_at')).toBe(today.slice(0, 4));
    expect(new URL(self).searchParams.has('_list')).toBe(false);
    const bad = await api.get('Basic/at-2/_history?_at=2026-13');
    expect(bad.status).toBe(400);
    expect(bad.body.resourceType).toBe('OperationOutcome');
  });

  it('paging stays put while new versions arrive: the next page holds what followed the first, not what the first showed', async () => {
    const made: string[] = [];
    const substance = (n: number) => ({ resourceType: 'Substance', code: { text: `substance ${n}` } });
    for (let n = 0; n < 5; n++) made.push((await api.post('Substance', substance(n))).body.id as string);
    const ids = (b: { entry?: Array<{ resource: { id: string } }> }) => (b.entry ?? []).map((e) => e.resource.id);
    const first = await api.get('Substance/_history?_count=2');
    expect(ids(first.body)).toEqual([made[4], made[3]]);
    // Two more arrive before the client asks for the next page.
    for (let n = 5; n < 7; n++) expect((await api.post('Substance', substance(n))).status).toBe(201);
    const nextUrl = (b: { link: Array<{ relation: string; url: string }> }) => b.link.find((l) => l.relation === 'next')?.url as string;
    const second = await api.get(linkPath(nextUrl(first.body)));
    expect(ids(second.body)).toEqual([made[2], made[1]]);
    const third = await api.get(linkPath(nextUrl(second.body)));
    expect(ids(third.body)).toEqual([made[0]]);
    expect(third.body.link.some((l: { relation: string }) => l.relation === 'next')).toBe(false);
  });
});
