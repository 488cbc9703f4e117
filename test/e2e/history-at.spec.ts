import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/** `_at` on history: the versions that were current at an instant. */
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
});
