import request from 'supertest';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';

type Json = Record<string, any>;

/**
 * The HTTP rules of FHIR R4 (http.html, binary.html) that an outside tester found broken: preconditions
 * on conditional delete and create-only PUT, what the CapabilityStatement lists, the R4 type list,
 * content negotiation, 405 for wrong methods, and Binary in its native content type.
 */
describe('REST HTTP conformance', () => {
  let t: TestApp;
  let api: FhirRequest;

  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const patient = (id: string, system: string, value: string): Json => ({ resourceType: 'Patient', id, identifier: [{ system, value }], active: true });

  describe('conditional DELETE with If-Match', () => {
    it('a stale If-Match is 412 and the matched resource stays; the current version deletes it', async () => {
      expect((await api.put('Patient/cdel1', patient('cdel1', 'http://probe/conf', '4'))).status).toBe(201);
      const criteria = `Patient?identifier=${encodeURIComponent('http://probe/conf|4')}`;
      expectOutcome(await api.delete(criteria).set('If-Match', 'W/"9"'), 412);
      expect((await api.get('Patient/cdel1')).status).toBe(200);
      const deleted = await api.delete(criteria).set('If-Match', 'W/"1"');
      expect(deleted.status).toBe(200);
      expect(deleted.headers.etag).toBe('W/"2"');
      expectOutcome(await api.get('Patient/cdel1'), 410);
    });

    it('an If-Match when the criteria match nothing is 412, as for an instance DELETE of what does not exist', async () => {
      const criteria = `Patient?identifier=${encodeURIComponent('http://probe/conf|none')}`;
      expectOutcome(await api.delete(criteria).set('If-Match', 'W/"1"'), 412);
      expect((await api.delete(criteria)).status).toBe(200);
    });
  });
});
