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

  describe('what the CapabilityStatement lists', () => {
    const statementOf = async (type: string): Promise<Json | undefined> => {
      const res = await request(t.app.getHttpServer()).get('/fhir/metadata');
      expect(res.status).toBe(200);
      return (res.body.rest[0].resource as Json[]).find((r) => r.type === type);
    };

    it('AuditEvent: only read, vread, search and history, no conditional writes, and writes are indeed refused', async () => {
      const audit = await statementOf('AuditEvent');
      expect((audit?.interaction as Json[]).map((i) => i.code).sort()).toEqual(['history-instance', 'history-type', 'read', 'search-type', 'vread']);
      expect(audit).toMatchObject({ conditionalCreate: false, conditionalUpdate: false, conditionalDelete: 'not-supported', updateCreate: false });
      const event = {
        resourceType: 'AuditEvent',
        type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110110' },
        recorded: '2026-01-01T00:00:00Z',
        agent: [{ requestor: true, who: { display: 'x' } }],
        source: { observer: { display: 'x' } },
      };
      expectOutcome(await api.post('AuditEvent', event), 403);
      // A writable type keeps every interaction.
      expect(((await statementOf('Patient'))?.interaction as Json[]).map((i) => i.code)).toEqual(expect.arrayContaining(['create', 'update', 'delete', 'patch']));
    });

    it('lists the R4 resource types only: no R4B SubscriptionStatus, no Parameters (never stored)', async () => {
      const res = await request(t.app.getHttpServer()).get('/fhir/metadata');
      const types = (res.body.rest[0].resource as Json[]).map((r) => r.type as string);
      expect(res.body.fhirVersion).toBe('4.0.1');
      expect(types).not.toContain('SubscriptionStatus');
      expect(types).not.toContain('Parameters');
      expect(types).toContain('Subscription');
      expect(types).toHaveLength(145);
    });
  });

  describe('resource types', () => {
    it('an R4B-only type is unknown, as a made-up one: 404 on every interaction, nothing stored', async () => {
      const body = { resourceType: 'SubscriptionStatus', status: 'active', type: 'heartbeat', subscription: { reference: 'Subscription/x' } };
      for (const type of ['SubscriptionStatus', 'MadeUpThing']) {
        const created = await api.post(type, { ...body, resourceType: type });
        expectOutcome(created, 404);
        expect(created.body.issue[0].diagnostics).toMatch(/Unknown resource type/);
        expectOutcome(await api.put(`${type}/s1`, { ...body, resourceType: type, id: 's1' }), 404);
        expectOutcome(await api.get(type), 404);
      }
    });

    it('Parameters is not stored: create, update and a transaction entry are refused and store nothing; $validate still takes it', async () => {
      const params = { resourceType: 'Parameters', parameter: [{ name: 'x', valueString: 'y' }] };
      const created = await api.post('Parameters', params);
      expectOutcome(created, 400);
      expect(created.body.issue[0].diagnostics).toMatch(/not stored/);
      expectOutcome(await api.put('Parameters/p1', { ...params, id: 'p1' }), 400);
      const tx = await api.post('', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: params, request: { method: 'POST', url: 'Parameters' } }],
      });
      expectOutcome(tx, 400);
      expect((await api.get('Parameters/p1')).status).toBe(404);
      expect(await api.historyTotal('Parameters')).toBe(0);
      const validated = await api.post('Parameters/$validate', params);
      expect(validated.status).toBe(200);
    });
  });

  describe('content negotiation', () => {
    beforeAll(async () => {
      expect((await api.put('Patient/fmt1', { ...patient('fmt1', 'http://probe/conf', 'f1'), text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Peter</div>' } })).status).toBe(201);
    });

    it('_format=application/fhir+json or +xml written unencoded (the + arrives as a space) is read as the + it was', async () => {
      const json = await api.get('/fhir/Patient/fmt1?_format=application/fhir+json');
      expect(json.status).toBe(200);
      expect(json.headers['content-type']).toMatch(/^application\/fhir\+json/);
      const xml = await api.get('/fhir/Patient/fmt1?_format=application/fhir+xml');
      expect(xml.status).toBe(200);
      expect(xml.headers['content-type']).toMatch(/^application\/fhir\+xml/);
    });

    it('Accept: application/json or application/xml is answered with that type; errors too', async () => {
      const json = await api.get('Patient/fmt1').set('Accept', 'application/json');
      expect(json.headers['content-type']).toMatch(/^application\/json;/);
      expect(JSON.parse(json.text).id).toBe('fmt1');
      const xml = await api.get('Patient/fmt1').set('Accept', 'application/xml');
      expect(xml.headers['content-type']).toMatch(/^application\/xml;/);
      expect(xml.text).toContain('<Patient xmlns="http://hl7.org/fhir">');
      const missing = await api.get('Patient/nope').set('Accept', 'application/json');
      expect(missing.status).toBe(404);
      expect(missing.headers['content-type']).toMatch(/^application\/json;/);
      expect((await api.get('Patient/fmt1').set('Accept', 'application/fhir+json')).headers['content-type']).toMatch(/^application\/fhir\+json/);
    });

    it('_pretty=true indents XML as it does JSON', async () => {
      const pretty = await api.get('Patient/fmt1?_format=xml&_pretty=true');
      expect(pretty.status).toBe(200);
      expect(pretty.text).toContain('<Patient xmlns="http://hl7.org/fhir">\n  <id value="fmt1"/>\n  <meta>\n    <versionId value="1"/>');
      expect((await api.get('Patient/fmt1?_format=xml')).text).not.toContain('\n');
    });
  });

  describe('405 Method Not Allowed', () => {
    const server = () => t.app.getHttpServer();
    const auth = (r: request.Test) => r.set('Authorization', `Bearer ${t.token}`);
    const expect405 = (res: request.Response, allow: string) => {
      expectOutcome(res, 405);
      expect(res.body.issue[0].code).toBe('not-supported');
      expect(res.headers.allow).toBe(allow);
    };

    beforeAll(async () => {
      expect((await api.put('Patient/m405', patient('m405', 'http://probe/conf', 'm'))).status).toBe(201);
    });

    it('on a version, an instance history, type and system history and metadata: 405 with Allow; nothing changes', async () => {
      expect405(await api.put('Patient/m405/_history/1', patient('m405', 'http://probe/conf', 'x')), 'GET, HEAD');
      expect405(await api.delete('Patient/m405/_history/1'), 'GET, HEAD');
      expect405(await api.post('Patient/m405/_history', {}), 'GET, HEAD');
      expect405(await api.delete('Patient/_history'), 'GET, HEAD');
      expect405(await api.post('_history', {}), 'GET, HEAD');
      expect405(await auth(request(server()).delete('/fhir/metadata')), 'GET, HEAD');
      expect405(await request(server()).delete('/fhir/metadata'), 'GET, HEAD'); // metadata is public: so is its 405
      const read = await api.get('Patient/m405');
      expect(read.body.meta.versionId).toBe('1');
      expect(read.body.identifier[0].value).toBe('m');
    });

    it('TRACE is 405 on any known path, with the methods the path answers', async () => {
      expect405(await auth(request(server()).trace('/fhir/metadata')), 'GET, HEAD');
      expect405(await auth(request(server()).trace('/fhir/Patient/m405/_history/1')), 'GET, HEAD');
      expect405(await auth(request(server()).trace('/cds-services')), 'GET, HEAD');
      expect405(await auth(request(server()).trace('/fhir/Patient')), 'GET, HEAD, POST, PUT, PATCH, DELETE');
      expect405(await auth(request(server()).trace('/fhir/Patient/m405')), 'GET, HEAD, PUT, PATCH, DELETE');
    });

    it('POST on an instance is 405 with the methods an instance takes; nothing is written', async () => {
      expect405(await api.post('Patient/m405', patient('m405', 'http://probe/conf', 'posted')), 'GET, HEAD, PUT, PATCH, DELETE');
      expect405(await api.post('Patient/m405-new', patient('m405-new', 'http://probe/conf', 'posted')), 'GET, HEAD, PUT, PATCH, DELETE');
      expect((await api.get('Patient/m405')).body.identifier[0].value).toBe('m');
      expect((await api.get('Patient/m405-new')).status).toBe(404);
      // Type-level operations and _search keep POST.
      expect((await api.post('Patient/_search', {})).status).not.toBe(405);
    });

    it('the CDS Hooks routes answer a wrong method with 405 too', async () => {
      expect405(await auth(request(server()).put('/cds-services').send({})), 'GET, HEAD');
      expect405(await auth(request(server()).get('/cds-services/ai-recommendations')), 'POST');
      expect405(await auth(request(server()).get('/cds-services/ai-recommendations/feedback')), 'POST');
    });

    it('unknown paths and unknown types stay 404', async () => {
      const unknown = await auth(request(server()).get('/no/such/path'));
      expectOutcome(unknown, 404);
      expect(unknown.headers.allow).toBeUndefined();
      expectOutcome(await auth(request(server()).trace('/no/such/path')), 404);
      expectOutcome(await api.put('MadeUpThing/x/_history/1', {}), 404);
    });
  });

  describe('Binary in its native content type', () => {
    const server = () => t.app.getHttpServer();
    const auth = (r: request.Test) => r.set('Authorization', `Bearer ${t.token}`);
    const html = '<html><body><script>alert(1)</script></body></html>';

    it('POST and PUT with a non-FHIR Content-Type store the body as data with that contentType; X-Security-Context sets securityContext', async () => {
      const posted = await auth(request(server()).post('/fhir/Binary')).set('Content-Type', 'text/html').set('X-Security-Context', 'Patient/m405').send(html);
      expect(posted.status).toBe(201);
      expect(posted.body).toMatchObject({ resourceType: 'Binary', contentType: 'text/html', data: Buffer.from(html).toString('base64'), securityContext: { reference: 'Patient/m405' } });
      const id = posted.body.id as string;
      const put = await auth(request(server()).put(`/fhir/Binary/${id}`)).set('Content-Type', 'text/plain').send('bye');
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ resourceType: 'Binary', id, contentType: 'text/plain', data: Buffer.from('bye').toString('base64') });
      expect(put.body.securityContext).toBeUndefined();
      const bytes = Buffer.from([0, 1, 2, 250, 251, 255]);
      const created = await auth(request(server()).put('/fhir/Binary/bin-octets')).set('Content-Type', 'application/octet-stream').send(bytes);
      expect(created.status).toBe(201);
      expect(created.body.data).toBe(bytes.toString('base64'));
      // Other types still take FHIR bodies only.
      expectOutcome(await auth(request(server()).post('/fhir/Patient')).set('Content-Type', 'text/plain').send('hi'), 415);
    });

    it('GET with a non-FHIR Accept answers the raw bytes with the contentType, unable to run in the server origin', async () => {
      const posted = await auth(request(server()).post('/fhir/Binary')).set('Content-Type', 'text/html').send(html);
      const id = posted.body.id as string;
      const raw = await auth(request(server()).get(`/fhir/Binary/${id}`)).set('Accept', 'text/html').buffer(true).parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
      expect(raw.status).toBe(200);
      expect(raw.headers['content-type']).toBe('text/html');
      expect((raw.body as Buffer).toString()).toBe(html);
      expect(raw.headers['x-content-type-options']).toBe('nosniff');
      expect(raw.headers['content-security-policy']).toBe('sandbox');
      expect(raw.headers['content-disposition']).toBe('attachment');
      expect(raw.headers.etag).toBe('W/"1"');
      const octets = await auth(request(server()).get('/fhir/Binary/bin-octets')).set('Accept', 'application/octet-stream').buffer(true).parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
      expect(octets.headers['content-type']).toBe('application/octet-stream');
      expect(octets.body).toEqual(Buffer.from([0, 1, 2, 250, 251, 255]));
      // A FHIR Accept, _format or no Accept: the resource.
      for (const r of [api.get(`Binary/${id}`).set('Accept', 'application/fhir+json'), api.get(`Binary/${id}?_format=json`).set('Accept', 'text/html'), api.get(`Binary/${id}`)]) {
        const res = await r;
        expect(res.status).toBe(200);
        expect(res.body.resourceType).toBe('Binary');
      }
      // Access control as for any read.
      expectOutcome(await request(server()).get(`/fhir/Binary/${id}`).set('Accept', 'text/html'), 401);
      expectOutcome(await api.get('Binary/none').set('Accept', 'text/html'), 404);
    });
  });
});
