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

  describe('PUT with If-None-Match', () => {
    it('If-None-Match: * creates an absent id (201) and is 412 on an existing one, which keeps its version', async () => {
      const body = patient('conf7', 'http://probe/conf', '7');
      expect((await api.put('Patient/conf7', body).set('If-None-Match', '*')).status).toBe(201);
      expectOutcome(await api.put('Patient/conf7', { ...body, active: false }).set('If-None-Match', '*'), 412);
      const read = await api.get('Patient/conf7');
      expect(read.body.meta.versionId).toBe('1');
      expect(read.body.active).toBe(true);
    });

    it('an ETag in If-None-Match fails when it names the current version; a malformed one is 400', async () => {
      const body = patient('conf8', 'http://probe/conf', '8');
      expect((await api.put('Patient/conf8', body)).status).toBe(201);
      expectOutcome(await api.put('Patient/conf8', { ...body, active: false }).set('If-None-Match', 'W/"1"'), 412);
      expectOutcome(await api.put('Patient/conf8', { ...body, active: false }).set('If-None-Match', 'banana'), 400);
      const updated = await api.put('Patient/conf8', { ...body, active: false }).set('If-None-Match', 'W/"5"');
      expect(updated.status).toBe(200);
      expect(updated.headers.etag).toBe('W/"2"');
    });

    it('a deleted resource has no current representation: If-None-Match: * writes it again', async () => {
      const body = patient('conf9', 'http://probe/conf', '9');
      expect((await api.put('Patient/conf9', body)).status).toBe(201);
      expect((await api.delete('Patient/conf9')).status).toBe(200);
      expect((await api.put('Patient/conf9', body).set('If-None-Match', '*')).status).toBe(201);
    });
  });
});
