import request from 'supertest';
import { example, startTestApp, type TestApp } from '../helpers/test-app';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';

type Json = Record<string, any>;

/**
 * Bad input gets the right 4xx with an OperationOutcome that names the path, and nothing is
 * written: every refusal below is checked against the system history total (and, for updates,
 * the version of the resource it aimed at).
 */
describe('bad input', () => {
  let t: TestApp;
  let api: FhirRequest;
  /** An existing Patient (version 1) that refused updates must leave alone. */
  let existing: Json;

  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
    const res = await api.put('Patient/existing', { resourceType: 'Patient', id: 'existing', active: true, birthDate: '1970-01-01' });
    expect(res.status).toBe(201);
    existing = res.body;
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Sends the request, checks the OperationOutcome, and that no version was written anywhere. */
  async function refused(send: () => request.Test, status: number, expression?: string | RegExp): Promise<Json> {
    const before = await api.historyTotal();
    const res = await send();
    const oo = expectOutcome(res, status, expression);
    expect(await api.historyTotal()).toBe(before);
    const current = await api.get('Patient/existing');
    expect(current.body).toEqual(existing);
    return oo;
  }

  describe('malformed bodies', () => {
    it('malformed JSON is 400', async () => {
      await refused(() => api.post('Patient', '{"resourceType": "Patient", "active": tru'), 400);
      await refused(() => api.put('Patient/existing', '{"resourceType": "Patient", "id": "existing",'), 400);
    });

    it('a JSON array, a bare string, a number or null is 400', async () => {
      for (const body of ['[{"resourceType":"Patient"}]', '"Patient"', '42', 'null']) {
        await refused(() => api.post('Patient', body), 400);
      }
      await refused(() => api.put('Patient/existing', '[]'), 400);
    });

    it('an empty body is 400', async () => {
      await refused(() => api.post('Patient', ''), 400);
    });
  });

  describe('resource type', () => {
    it('a resourceType that does not match the URL is 400 naming resourceType', async () => {
      await refused(() => api.post('Patient', { resourceType: 'Practitioner', active: true }), 400, 'resourceType');
      await refused(() => api.put('Patient/existing', { resourceType: 'Practitioner', id: 'existing' }), 400, 'resourceType');
    });

    it('a body without resourceType is 400', async () => {
      await refused(() => api.post('Patient', { active: true }), 400, 'resourceType');
    });

    it('a Bundle posted to /fhir/Patient is 400', async () => {
      const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Patient', active: true } }] };
      await refused(() => api.post('Patient', bundle), 400, 'resourceType');
    });

    it('an unknown resource type in the URL is 404', async () => {
      await refused(() => api.post('Foo', { resourceType: 'Foo' }), 404);
      expectOutcome(await api.get('Foo/1'), 404);
      expectOutcome(await api.get('Foo/_history'), 404);
      await refused(() => api.put('Foo/1', { resourceType: 'Foo', id: '1' }), 404);
      await refused(() => api.delete('Foo/1'), 404);
    });
  });

  describe('ids', () => {
    it('an id in the PUT body that does not match the URL is 400', async () => {
      await refused(() => api.put('Patient/existing', { resourceType: 'Patient', id: 'other', active: false }), 400, 'Patient.id');
      expectOutcome(await api.get('Patient/other'), 404);
    });

    it('a PUT without an id in the body is 400', async () => {
      await refused(() => api.put('Patient/existing', { resourceType: 'Patient', active: false }), 400, 'Patient.id');
      await refused(() => api.put('Patient/new-without-id', { resourceType: 'Patient', active: false }), 400, 'Patient.id');
      expectOutcome(await api.get('Patient/new-without-id'), 404);
    });

    it('an id that is not a FHIR id is 400 (a space, more than 64 characters, other characters)', async () => {
      for (const id of ['bad id', 'a'.repeat(65), 'bad_id', 'bad$id']) {
        await refused(() => api.put(`Patient/${encodeURIComponent(id)}`, { resourceType: 'Patient', id }), 400, 'Patient.id');
      }
    });

    it('a 64-character id is accepted (the limit is inclusive)', async () => {
      const id = 'a'.repeat(64);
      const res = await api.put(`Patient/${id}`, { resourceType: 'Patient', id });
      expect(res.status).toBe(201);
      expect((await api.get(`Patient/${id}`)).status).toBe(200);
    });
  });

  describe('content against the R4 definitions', () => {
    it('an unknown element is 400 naming it', async () => {
      await refused(() => api.post('Patient', { resourceType: 'Patient', foo: 1 }), 400, 'Patient.foo');
      await refused(() => api.put('Patient/existing', { resourceType: 'Patient', id: 'existing', name: [{ family: 'X', nickname: 'Y' }] }), 400, /^Patient\.name(\[0\])?\.nickname$/);
    });

    it('a wrong type is 400 naming the path', async () => {
      await refused(() => api.post('Patient', { resourceType: 'Patient', birthDate: 12 }), 400, 'Patient.birthDate');
      await refused(() => api.post('Patient', { resourceType: 'Patient', active: 'yes' }), 400, 'Patient.active');
      await refused(() => api.post('Patient', { resourceType: 'Patient', name: { family: 'not an array' } }), 400, /^Patient\.name/);
      await refused(() => api.put('Patient/existing', { resourceType: 'Patient', id: 'existing', birthDate: '31/12/1970' }), 400, 'Patient.birthDate');
    });

    it('a code outside its required value set is 400', async () => {
      await refused(() => api.post('Patient', { resourceType: 'Patient', gender: 'robot' }), 400, 'Patient.gender');
      await refused(() => api.put('Patient/existing', { ...existing, gender: 'robot' }), 400, 'Patient.gender');
    });

    it('a missing required element is 400 naming it', async () => {
      const observation = example<Json>('Observation-body-temperature.json');
      delete observation.code;
      delete observation.status;
      delete observation.subject; // no reference to resolve: the refusal is about the content alone
      const oo = await refused(() => api.post('Observation', observation), 400, 'Observation.code');
      expect(oo.issue.flatMap((i: Json) => i.expression ?? [])).toContain('Observation.status');
    });

    it('an empty string, array or object is 400 naming the path', async () => {
      await refused(() => api.post('Patient', { resourceType: 'Patient', gender: '' }), 400, 'Patient.gender');
      await refused(() => api.post('Patient', { resourceType: 'Patient', name: [{ family: '   ' }] }), 400, /^Patient\.name(\[0\])?\.family$/);
      await refused(() => api.post('Patient', { resourceType: 'Patient', name: [] }), 400, 'Patient.name');
      await refused(() => api.post('Patient', { resourceType: 'Patient', maritalStatus: {} }), 400, 'Patient.maritalStatus');
    });

    it('null outside a primitive array is 400', async () => {
      await refused(() => api.post('Patient', { resourceType: 'Patient', active: null }), 400, 'Patient.active');
    });

    it('__proto__ in the body pollutes nothing and is refused as an unknown element', async () => {
      const body = '{"resourceType":"Patient","__proto__":{"polluted":"yes"},"name":[{"family":"X","__proto__":{"polluted":"yes"}}]}';
      await refused(() => api.post('Patient', body), 400, 'Patient.__proto__');
      expect(({} as Json).polluted).toBeUndefined();
      expect((Object.prototype as Json).polluted).toBeUndefined();
      const nested = '{"resourceType":"Patient","name":[{"family":"X","__proto__":{"polluted":"yes"}}]}';
      await refused(() => api.post('Patient', nested), 400, /^Patient\.name(\[0\])?\.__proto__$/);
      expect(({} as Json).polluted).toBeUndefined();
    });

    it('names inherited from Object.prototype are unknown elements too', async () => {
      for (const key of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '_toString']) {
        await refused(() => api.post('Patient', `{"resourceType":"Patient","${key}":{"prototype":{"polluted":"yes"}}}`), 400, `Patient.${key}`);
      }
      await refused(() => api.put('Patient/existing', { ...existing, constructor: 'x' }), 400, 'Patient.constructor');
      expect(({} as Json).polluted).toBeUndefined();
    });

    it('a narrative that could run in a browser, or is not one XHTML div, is 400 naming it (txt-1); an empty one is accepted', async () => {
      const narrative = (div: string) => ({ resourceType: 'Patient', text: { status: 'generated', div } });
      const xhtml = (inner: string) => `<div xmlns="http://www.w3.org/1999/xhtml">${inner}</div>`;
      for (const div of [
        xhtml('<script>alert(document.cookie)</script>Jim'),
        xhtml('<p onmouseover="x()">Jim</p>'),
        xhtml('<a href="javascript:alert(1)">Jim</a>'),
        xhtml('<p>unclosed'),
        xhtml('Caf&eacute;'),
        '<div>no namespace</div>',
      ]) {
        await refused(() => api.post('Patient', narrative(div)), 400, 'Patient.text.div');
      }
      // In XML too, and in a contained resource.
      const xml = '<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><iframe src="https://evil.example"/>Jim</div></text></Patient>';
      await refused(() => api.post('Patient', xml).set('Content-Type', 'application/fhir+xml'), 400, 'Patient.text.div');
      const contained = { resourceType: 'Organization', id: 'o', name: 'x', text: narrative(xhtml('<form/>x')).text };
      await refused(() => api.post('Patient', { resourceType: 'Patient', contained: [contained], managingOrganization: { reference: '#o' } }), 400, 'Patient.contained[0].text.div');
      const empty = await api.post('Patient', narrative(xhtml('  ')));
      expect(empty.status).toBe(201);
      // The read back is the narrative as sent, and XML can carry it.
      expect((await api.get(`Patient/${empty.body.id}`).set('Accept', 'application/fhir+xml')).status).toBe(200);
    });

    it('ids of contained resources follow the id format; extension urls are absolute (a complex extension\'s parts may be names)', async () => {
      await refused(() => api.post('Patient', { resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'org_1', name: 'x' }], managingOrganization: { reference: '#org_1' } }), 400, 'Patient.contained[0].id');
      await refused(() => api.post('Patient', { resourceType: 'Patient', extension: [{ url: 'something', valueString: 'x' }] }), 400, 'Patient.extension[0].url');
      const complex = await api.post('Patient', {
        resourceType: 'Patient',
        extension: [{ url: 'http://example.org/fhir/StructureDefinition/pet', extension: [{ url: 'species', valueString: 'dog' }] }],
      });
      expect(complex.status).toBe(201);
    });

    it('contained resources are referred to from their container (dom-3), local references name one (ref-1), and primitive twins have the shape of their values', async () => {
      const org = { resourceType: 'Organization', id: 'o', name: 'x' };
      await refused(() => api.post('Patient', { resourceType: 'Patient', contained: [org] }), 400, 'Patient.contained[0]');
      await refused(() => api.post('Patient', { resourceType: 'Patient', managingOrganization: { reference: '#nope' } }), 400, 'Patient.managingOrganization');
      await refused(() => api.post('Patient', { resourceType: 'Patient', birthDate: '1975', _birthDate: 'x' }), 400, 'Patient._birthDate');
      const ext = { extension: [{ url: 'http://example.org/x', valueString: 'y' }] };
      await refused(() => api.post('Patient', { resourceType: 'Patient', name: [{ given: ['A'], _given: [null, ext] }] }), 400, 'Patient.name[0]._given');
      const ok = await api.post('Patient', { resourceType: 'Patient', contained: [org], managingOrganization: { reference: '#o' }, name: [{ given: ['A', 'B'], _given: [null, ext] }] });
      expect(ok.status).toBe(201);
    });

    it('base64Binary may be wrapped with whitespace, as R4 allows (the official Binary example is)', async () => {
      const binary = example<Json>('Binary-example.json');
      expect(binary.data).toMatch(/\s/);
      const res = await api.put(`Binary/${binary.id}`, binary);
      expect(res.status).toBe(201);
      expect((await api.get(`Binary/${binary.id}`)).body.data).toBe(binary.data);
      await refused(() => api.post('Binary', { resourceType: 'Binary', contentType: 'text/plain', data: 'not base64!' }), 400, 'Binary.data');
    });

    it('a reference from a projected type to a Patient or Practitioner that does not exist is 400, naming the element', async () => {
      const condition = example<Json>('Condition-example.json');
      condition.subject = { reference: 'Patient/does-not-exist' };
      const oo = await refused(() => api.post('Condition', condition), 400, 'Condition.subject');
      expect(oo.issue[0].diagnostics).toContain('Patient/does-not-exist');
      const encounter = { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/existing' }, participant: [{ individual: { reference: 'Practitioner/nobody' } }] };
      const oo2 = await refused(() => api.post('Encounter', encounter), 400, 'Encounter.participant[0].individual');
      expect(oo2.issue[0].diagnostics).toContain('Practitioner/nobody');
    });
  });

  describe('HTTP', () => {
    it('an unsupported content type is 415', async () => {
      const patient = JSON.stringify({ resourceType: 'Patient', active: true });
      await refused(() => api.post('Patient', patient, 'text/plain'), 415);
      await refused(() => api.post('Patient', '<Patient xmlns="http://hl7.org/fhir"><active value="true"/></Patient>', 'application/pdf'), 415);
      await refused(() => api.put('Patient/existing', JSON.stringify({ ...existing, active: false }), 'text/plain'), 415);
      await refused(() => api.post('Patient/$validate', patient, 'text/plain'), 415);
    });

    it('an Accept the server cannot produce is 406', async () => {
      expectOutcome(await api.get('Patient/existing').set('Accept', 'text/html'), 406);
      expectOutcome(await api.get('Patient/existing?_format=turtle'), 406);
      await refused(() => api.post('Patient', { resourceType: 'Patient' }).set('Accept', 'image/png'), 406);
    });

    it('Accept: application/json and */* are served', async () => {
      expect((await api.get('Patient/existing').set('Accept', 'application/json')).status).toBe(200);
      expect((await api.get('Patient/existing').set('Accept', '*/*')).status).toBe(200);
    });

    it('vread with a non-numeric version is 404', async () => {
      expectOutcome(await api.get('Patient/existing/_history/abc'), 404);
      expectOutcome(await api.get('Patient/existing/_history/1.5'), 404);
    });

    it('_count=abc on history is 400', async () => {
      expectOutcome(await api.get('Patient/_history?_count=abc'), 400);
      expectOutcome(await api.get('Patient/existing/_history?_count=-1'), 400);
      expectOutcome(await api.get('_history?_since=yesterday'), 400);
    });

    it('an If-Match that is not an ETag is 400 and changes nothing', async () => {
      await refused(() => api.put('Patient/existing', { ...existing, active: false }).set('If-Match', 'banana'), 400);
    });

    it('an unknown operation is 404', async () => {
      await refused(() => api.post('Patient/$everything-else', { resourceType: 'Parameters' }), 404);
    });
  });

  describe('oversized body (MAX_BODY_BYTES=2048)', () => {
    let small: TestApp;
    let smallApi: FhirRequest;

    beforeAll(async () => {
      small = await startTestApp({ MAX_BODY_BYTES: '2048' });
      smallApi = FhirRequest.of(small);
    });
    afterAll(async () => {
      await small?.close();
    });

    it('a body over the limit is 413 and nothing is written', async () => {
      const patient = example<Json>('Patient-example.json');
      expect(JSON.stringify(patient).length).toBeGreaterThan(2048);
      const before = await smallApi.historyTotal();
      const res = await smallApi.post('Patient', patient);
      expectOutcome(res, 413);
      expect(await smallApi.historyTotal()).toBe(before);
    });

    it('a body under the limit is still accepted', async () => {
      const res = await smallApi.post('Patient', { resourceType: 'Patient', active: true });
      expect(res.status).toBe(201);
    });
  });
});
