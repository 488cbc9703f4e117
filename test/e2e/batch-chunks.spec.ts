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
});
