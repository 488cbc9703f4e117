import request from 'supertest';
import { example, startTestApp, type TestApp } from '../helpers/test-app';
import { FhirRequest, expectOutcome, linkPath, withoutServerFields } from '../helpers/fhir-request';

type Json = Record<string, any>;

/**
 * Standard FHIR R4 REST interactions on official HL7 examples, through the real HTTP stack:
 * the six projected types (Patient, Practitioner, Encounter, Observation, MedicationRequest,
 * Condition) and two types without a table (Immunization, AllergyIntolerance).
 */
describe('FHIR REST', () => {
  let t: TestApp;
  let api: FhirRequest;

  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const base = () => `${t.baseUrl}/fhir`;

  /** A change every DomainResource accepts: one more extension. */
  const changed = (resource: Json, note: string): Json => ({
    ...resource,
    extension: [...(resource.extension ?? []), { url: 'http://example.org/fhir/StructureDefinition/test-note', valueString: note }],
  });

  describe('_summary and _elements on read and vread', () => {
    it('read and vread return the subset asked for, tagged SUBSETTED; without them, the resource as stored; malformed values are 400', async () => {
      const created = await api.post('Encounter', {
        resourceType: 'Encounter',
        status: 'finished',
        statusHistory: [{ status: 'arrived', period: { start: '2026-01-01' } }],
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
        text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Emergency visit</div>' },
      });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      const keys = (b: Json) => Object.keys(b).sort();
      const subsetted = (b: Json) => (b.meta?.tag ?? []).some((tag: Json) => tag.code === 'SUBSETTED');
      for (const path of [`Encounter/${id}`, `Encounter/${id}/_history/1`]) {
        const summary = await api.get(`${path}?_summary=true`);
        expect(summary.status).toBe(200);
        expect(keys(summary.body)).toEqual(['class', 'id', 'meta', 'resourceType', 'status']);
        expect(subsetted(summary.body)).toBe(true);
        expect(keys((await api.get(`${path}?_summary=data`)).body)).toEqual(['class', 'id', 'meta', 'resourceType', 'status', 'statusHistory']);
        // class is mandatory (1..1): returned whether asked for or not.
        expect(keys((await api.get(`${path}?_elements=status`)).body)).toEqual(['class', 'id', 'meta', 'resourceType', 'status']);
        const full = await api.get(path);
        expect(keys(full.body)).toEqual(['class', 'id', 'meta', 'resourceType', 'status', 'statusHistory', 'text']);
        expect(subsetted(full.body)).toBe(false);
        expect(keys((await api.get(`${path}?_summary=false`)).body)).toEqual(keys(full.body));
        expectOutcome(await api.get(`${path}?_summary=count`), 400);
        expectOutcome(await api.get(`${path}?_summary=maybe`), 400);
        expectOutcome(await api.get(`${path}?_elements=bad%20name`), 400);
      }
    });
  });

  const CASES: Array<{ type: string; file: string }> = [
    { type: 'Patient', file: 'Patient-example.json' },
    { type: 'Practitioner', file: 'Practitioner-example.json' },
    { type: 'Encounter', file: 'Encounter-f001.json' },
    { type: 'Observation', file: 'Observation-blood-pressure.json' },
    { type: 'MedicationRequest', file: 'MedicationRequest-medrx0302.json' },
    { type: 'Condition', file: 'Condition-f201.json' },
    { type: 'Immunization', file: 'Immunization-example.json' },
    { type: 'AllergyIntolerance', file: 'AllergyIntolerance-example.json' },
  ];

  describe.each(CASES)('$type ($file)', ({ type, file }) => {
    const original = example<Json>(file);
    let id: string;
    let created: Json;

    beforeAll(async () => {
      await api.ensureReferenced(original);
    });

    it('create: 201 with Location, ETag W/"1", Last-Modified and FHIR JSON; reads back what was sent', async () => {
      const res = await api.post(type, original);
      expect({ status: res.status, body: res.body }).toMatchObject({ status: 201, body: { resourceType: type } });
      id = res.body.id;
      expect(id).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
      expect(id).not.toBe(original.id); // the server assigns the id on create
      expect(res.headers.location).toBe(`${base()}/${type}/${id}/_history/1`);
      expect(res.headers.etag).toBe('W/"1"');
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      const lastModified = new Date(res.headers['last-modified']);
      expect(Number.isNaN(lastModified.getTime())).toBe(false);
      expect(Math.abs(lastModified.getTime() - Date.now())).toBeLessThan(60_000);
      expect(res.body.meta).toMatchObject({ versionId: '1' });
      expect(new Date(res.body.meta.lastUpdated).toUTCString()).toBe(res.headers['last-modified']);

      const read = await api.get(`${type}/${id}`);
      expect(read.status).toBe(200);
      expect(withoutServerFields(read.body)).toEqual(withoutServerFields(original));
      created = read.body;
    });

    it('read: 200 with the version headers', async () => {
      const res = await api.get(`${type}/${id}`);
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe('W/"1"');
      expect(res.headers['last-modified']).toBe(new Date(created.meta.lastUpdated).toUTCString());
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(res.body).toEqual(created);
    });

    it('vread: version 1 is the created resource; an unknown version is 404', async () => {
      const res = await api.get(`${type}/${id}/_history/1`);
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe('W/"1"');
      expect(res.body).toEqual(created);
      expectOutcome(await api.get(`${type}/${id}/_history/9`), 404);
    });

    it('read of an unknown id is 404 with an OperationOutcome', async () => {
      expectOutcome(await api.get(`${type}/no-such-${type.toLowerCase()}`), 404);
    });

    it('update (PUT): 200, ETag W/"2", the new content is read back; version 1 is unchanged', async () => {
      const next = changed({ ...original, id }, 'second version');
      const res = await api.put(`${type}/${id}`, next);
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe('W/"2"');
      expect(res.headers.location).toBeUndefined();
      expect(res.body.meta.versionId).toBe('2');

      const read = await api.get(`${type}/${id}`);
      expect(read.status).toBe(200);
      expect(read.headers.etag).toBe('W/"2"');
      expect(withoutServerFields(read.body)).toEqual(withoutServerFields(next));
      expect(new Date(read.body.meta.lastUpdated).getTime()).toBeGreaterThan(new Date(created.meta.lastUpdated).getTime());

      const v1 = await api.get(`${type}/${id}/_history/1`);
      expect(v1.status).toBe(200);
      expect(v1.body).toEqual(created);
    });

    it('an update with identical content makes no new version', async () => {
      const current = (await api.get(`${type}/${id}`)).body;
      const res = await api.put(`${type}/${id}`, changed({ ...original, id }, 'second version'));
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe('W/"2"');
      expect(res.body).toEqual(current);
      expect(await api.historyTotal(`${type}/${id}`)).toBe(2);
      expectOutcome(await api.get(`${type}/${id}/_history/3`), 404);
    });

    it('instance history: a history Bundle, newest first, with total', async () => {
      const res = await api.get(`${type}/${id}/_history`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'history', total: 2 });
      expect(res.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['2', '1']);
      expect(res.body.entry.map((e: Json) => e.response.etag)).toEqual(['W/"2"', 'W/"1"']);
      expect(res.body.entry[0].fullUrl).toBe(`${base()}/${type}/${id}`);
      expect(res.body.entry[1].resource).toEqual(created);
    });

    it('type history holds the versions of this type only', async () => {
      const res = await api.get(`${type}/_history`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'history' });
      expect(res.body.total).toBeGreaterThanOrEqual(2);
      const entries = res.body.entry as Json[];
      expect(entries.every((e) => e.resource.resourceType === type)).toBe(true);
      const ours = entries.filter((e) => e.resource.id === id).map((e) => e.resource.meta.versionId);
      expect(ours).toEqual(['2', '1']);
    });

    it('update-as-create with a client-chosen id: 201 with Location and ETag W/"1"', async () => {
      const clientId = `client-${type.toLowerCase()}-1`;
      const body = { ...original, id: clientId };
      const res = await api.put(`${type}/${clientId}`, body);
      expect(res.status).toBe(201);
      expect(res.headers.location).toBe(`${base()}/${type}/${clientId}/_history/1`);
      expect(res.headers.etag).toBe('W/"1"');
      expect(res.body.id).toBe(clientId);
      const read = await api.get(`${type}/${clientId}`);
      expect(read.status).toBe(200);
      expect(withoutServerFields(read.body)).toEqual(withoutServerFields(body));
    });

    it('delete: 200 with an OperationOutcome; later reads are 410, old versions stay readable, history records it', async () => {
      const res = await api.delete(`${type}/${id}`);
      expectOutcome(res, 200);
      expect(res.body.issue[0].severity).toBe('information');

      expectOutcome(await api.get(`${type}/${id}`), 410);

      const v2 = await api.get(`${type}/${id}/_history/2`);
      expect(v2.status).toBe(200);
      expect(v2.body.meta.versionId).toBe('2');

      const history = await api.get(`${type}/${id}/_history`);
      expect(history.status).toBe(200);
      expect(history.body.total).toBe(3);
      const [deletion] = history.body.entry as Json[];
      expect(deletion.request).toMatchObject({ method: 'DELETE', url: `${type}/${id}` });
      expect(deletion.resource).toBeUndefined();
      expect(deletion.response.etag).toBe('W/"3"');
    });

    it('deleting again, or deleting an id that never existed, succeeds and changes nothing (R4 http.html#delete)', async () => {
      expect((expectOutcome(await api.delete(`${type}/${id}`), 200).issue as Json[])[0].diagnostics).toMatch(/already deleted/);
      expect(await api.historyTotal(`${type}/${id}`)).toBe(3);
      const never = `${type}/never-existed-${type.toLowerCase()}`;
      expect((expectOutcome(await api.delete(never), 200).issue as Json[])[0].diagnostics).toMatch(/does not exist: nothing was deleted/);
      expect((await api.get(never)).status).toBe(404); // not a tombstone: it still never existed
      expect((await api.get(`${never}/_history`)).status).toBe(404);
      // An If-Match cannot hold for what does not exist.
      expectOutcome(await api.delete(never).set('If-Match', 'W/"1"'), 412);
    });

    it('a PUT after the delete brings the resource back as a new version (201)', async () => {
      const res = await api.put(`${type}/${id}`, { ...original, id });
      expect(res.status).toBe(201);
      expect(res.headers.etag).toBe('W/"4"');
      const read = await api.get(`${type}/${id}`);
      expect(read.status).toBe(200);
      expect(withoutServerFields(read.body)).toEqual(withoutServerFields({ ...original, id }));
    });
  });

  describe('history entries name the interaction that made each version', () => {
    it('POST, PUT (update-as-create and update), PATCH, DELETE and a PUT that brings a deleted resource back', async () => {
      const created = await api.post('Patient', { resourceType: 'Patient', name: [{ family: 'Posted' }] });
      const posted = `Patient/${created.body.id}`;
      const putId = `put-created-${Date.now()}`;
      const put = `Patient/${putId}`;
      expect((await api.put(put, { resourceType: 'Patient', id: putId, name: [{ family: 'Put' }] })).status).toBe(201);
      expect((await api.put(put, { resourceType: 'Patient', id: putId, name: [{ family: 'Put', given: ['Again'] }] })).status).toBe(200);
      const patched = await api.patch(put, [{ op: 'add', path: '/gender', value: 'female' }]);
      expect(patched.status).toBe(200);
      await api.delete(put);
      expect((await api.put(put, { resourceType: 'Patient', id: putId, name: [{ family: 'Back' }] })).status).toBe(201);

      const entries = (await api.get(`${put}/_history`)).body.entry as Json[];
      expect(entries.map((e) => [e.request.method, e.request.url, e.response.status])).toEqual([
        ['PUT', put, '201'], // back after the delete: created again
        ['DELETE', put, '204'],
        ['PATCH', put, '200'],
        ['PUT', put, '200'],
        ['PUT', put, '201'], // update-as-create: a PUT, not a POST to Patient
      ]);
      const first = ((await api.get(`${posted}/_history`)).body.entry as Json[])[0];
      expect([first.request.method, first.request.url, first.response.status]).toEqual(['POST', 'Patient', '201']);
    });
  });

  describe('system history', () => {
    it('GET /fhir/_history lists versions of every type, newest first', async () => {
      const patient = await api.post('Patient', { resourceType: 'Patient', name: [{ family: 'Newest' }] });
      expect(patient.status).toBe(201);
      const res = await api.get('_history');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'history' });
      const entries = res.body.entry as Json[];
      expect(entries[0].resource).toMatchObject({ resourceType: 'Patient', id: patient.body.id });
      const types = new Set(entries.map((e) => e.fullUrl.split('/').slice(-2)[0]));
      for (const { type } of CASES) expect(types).toContain(type);
      const times = entries.map((e) => new Date(e.response.lastModified).getTime());
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      expect(res.body.total).toBeGreaterThanOrEqual(entries.length);
    });
  });

  describe('history paging and _since', () => {
    // Basic is touched by no other test in this file, so its type history is exactly ours.
    const basic = (n: number) => ({ resourceType: 'Basic', code: { text: `item ${n}` } });
    const ids: string[] = [];
    const lastUpdated: string[] = [];

    beforeAll(async () => {
      for (let n = 0; n < 5; n++) {
        const res = await api.post('Basic', basic(n));
        expect(res.status).toBe(201);
        ids.push(res.body.id);
        lastUpdated.push(res.body.meta.lastUpdated);
      }
    });

    it('type history total counts every version; _count=0 gives the total without entries', async () => {
      const res = await api.get('Basic/_history?_count=0');
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(5);
      expect(res.body.entry ?? []).toEqual([]);
      // A next link would point at the same empty page again: a client following it would never stop.
      expect((res.body.link as Json[]).map((l) => l.relation)).not.toContain('next');
      const all = await api.get('Basic/_history');
      expect(all.body.total).toBe(5);
      expect(all.body.entry).toHaveLength(5);
    });

    it('_count pages through next links, newest first, without gaps or repeats', async () => {
      const seen: string[] = [];
      let path: string | undefined = 'Basic/_history?_count=2';
      const pageSizes: number[] = [];
      while (path) {
        const res: request.Response = await api.get(path);
        expect(res.status).toBe(200);
        expect(res.body.total).toBe(5);
        pageSizes.push(res.body.entry.length);
        seen.push(...res.body.entry.map((e: Json) => e.resource.id));
        const next = (res.body.link as Json[]).find((l) => l.relation === 'next');
        path = next ? linkPath(next.url) : undefined;
        expect(pageSizes.length).toBeLessThan(10);
      }
      expect(pageSizes).toEqual([2, 2, 1]);
      expect(seen).toEqual([...ids].reverse());
    });

    it('_since keeps the versions made at or after the instant', async () => {
      const res = await api.get(`Basic/_history?_since=${encodeURIComponent(lastUpdated[2])}`);
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(3);
      expect(res.body.entry.map((e: Json) => e.resource.id)).toEqual([ids[4], ids[3], ids[2]]);
      const none = await api.get(`Basic/_history?_since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
      expect(none.status).toBe(200);
      expect(none.body.total).toBe(0);
      expect(none.body.entry ?? []).toEqual([]);
    });
  });

  describe('If-Match', () => {
    let id: string;
    let v2: Json;

    beforeAll(async () => {
      const res = await api.post('Patient', { resourceType: 'Patient', name: [{ family: 'Version', given: ['One'] }] });
      id = res.body.id;
      const update = await api.put(`Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Version', given: ['Two'] }] });
      expect(update.status).toBe(200);
      v2 = update.body;
    });

    it('a stale version is refused with 412 and changes nothing', async () => {
      const res = await api
        .put(`Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Version', given: ['Stale'] }] })
        .set('If-Match', 'W/"1"');
      expectOutcome(res, 412);
      const read = await api.get(`Patient/${id}`);
      expect(read.headers.etag).toBe('W/"2"');
      expect(read.body).toEqual(v2);
      expect(await api.historyTotal(`Patient/${id}`)).toBe(2);
    });

    it('a stale If-Match on DELETE is refused with 412 and the resource stays', async () => {
      expectOutcome(await api.delete(`Patient/${id}`).set('If-Match', 'W/"1"'), 412);
      expect((await api.get(`Patient/${id}`)).status).toBe(200);
    });

    it('the current version is accepted', async () => {
      const res = await api
        .put(`Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Version', given: ['Three'] }] })
        .set('If-Match', 'W/"2"');
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe('W/"3"');
      expect(res.body.name[0].given).toEqual(['Three']);
    });
  });

  describe('conditional read (If-None-Match, If-Modified-Since)', () => {
    it('answers 304 without a body when the client holds the current version, 200 otherwise', async () => {
      const created = await api.post('Patient', { resourceType: 'Patient', name: [{ family: 'Cached' }] });
      const path = `Patient/${created.body.id}`;
      const lastModified = created.headers['last-modified'] as string;
      const current = await api.get(path).set('If-None-Match', 'W/"1"');
      expect([current.status, current.text ?? '', current.headers.etag]).toEqual([304, '', 'W/"1"']);
      expect((await api.get(path).set('If-None-Match', '"1"')).status).toBe(304); // weak comparison
      expect((await api.get(path).set('If-None-Match', '*')).status).toBe(304);
      expect((await api.get(path).set('If-None-Match', 'W/"7", W/"1"')).status).toBe(304);
      expect((await api.get(path).set('If-Modified-Since', lastModified)).status).toBe(304);
      const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
      const stale = await api.get(path).set('If-Modified-Since', earlier);
      expect([stale.status, stale.body.id]).toEqual([200, created.body.id]);
      // If-None-Match decides when both are sent (RFC 7232 §6).
      expect((await api.get(path).set('If-None-Match', 'W/"0"').set('If-Modified-Since', lastModified)).status).toBe(200);
      await api.put(path, { resourceType: 'Patient', id: created.body.id, name: [{ family: 'Cached', given: ['Again'] }] });
      const changed = await api.get(path).set('If-None-Match', 'W/"1"');
      expect([changed.status, changed.headers.etag, changed.body.name[0].given]).toEqual([200, 'W/"2"', ['Again']]);
      expect((await api.get(path).set('If-Modified-Since', 'not a date')).status).toBe(200);
    });

    it('_pretty=true indents the JSON; the content is the same', async () => {
      const created = await api.post('Patient', { resourceType: 'Patient', name: [{ family: 'Pretty' }] });
      const plain = await api.get(`Patient/${created.body.id}`);
      const pretty = await api.get(`Patient/${created.body.id}?_pretty=true`);
      expect(plain.text).not.toContain('\n');
      expect(pretty.text).toContain('\n  "resourceType": "Patient"');
      expect(JSON.parse(pretty.text)).toEqual(plain.body);
    });
  });

  describe('fhirVersion in Accept and Content-Type (versioning.html#mt-version)', () => {
    it('R4 (4.0, 4.0.1) is served in the format asked for; another version alone is 406', async () => {
      const created = await api.post('Patient', { resourceType: 'Patient', name: [{ family: 'Versioned' }] }).set('Content-Type', 'application/fhir+json; fhirVersion=4.0');
      expect(created.status).toBe(201);
      const path = `Patient/${created.body.id}`;
      for (const [accept, type] of [
        ['application/fhir+json; fhirVersion=4.0', /^application\/fhir\+json/],
        ['application/fhir+xml; fhirVersion=4.0.1', /^application\/fhir\+xml/],
        ['application/fhir+xml; fhirVersion=3.0, application/fhir+json; fhirVersion=4.0', /^application\/fhir\+json/],
        ['application/fhir+json; fhirversion="4.0.0"; q=0.9', /^application\/fhir\+json/],
      ] as const) {
        const res = await api.get(path).set('Accept', accept);
        expect([accept, res.status, res.headers['content-type']]).toEqual([accept, 200, expect.stringMatching(type)]);
      }
      const other = await api.get(path).set('Accept', 'application/fhir+json; fhirVersion=3.0');
      expectOutcome(other, 406);
      expect(JSON.stringify(other.body)).toContain('fhirVersion=4.0');
    });
  });

  describe('Prefer', () => {
    it('return=minimal: 201 with headers and an empty body', async () => {
      const res = await api.post('Patient', { resourceType: 'Patient', gender: 'female' }).set('Prefer', 'return=minimal');
      expect(res.status).toBe(201);
      expect(res.text ?? '').toBe('');
      expect(res.headers.etag).toBe('W/"1"');
      expect(res.headers.location).toMatch(new RegExp(`^${base()}/Patient/[A-Za-z0-9\\-.]+/_history/1$`));
      const read = await api.get(linkPath(res.headers.location));
      expect(read.status).toBe(200);
      expect(read.body.gender).toBe('female');
    });

    it('return=OperationOutcome: an informational OperationOutcome instead of the resource', async () => {
      const created = await api.post('Patient', { resourceType: 'Patient', gender: 'male' }).set('Prefer', 'return=OperationOutcome');
      expect(created.status).toBe(201);
      expect(created.body.resourceType).toBe('OperationOutcome');
      expect(created.body.issue[0].severity).toBe('information');
      const id = /\/Patient\/([^/]+)\//.exec(created.headers.location)![1];

      const updated = await api.put(`Patient/${id}`, { resourceType: 'Patient', id, gender: 'other' }).set('Prefer', 'return=OperationOutcome');
      expect(updated.status).toBe(200);
      expect(updated.headers.etag).toBe('W/"2"');
      expect(updated.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'information' }] });
    });

    it('return=representation (the default) returns the resource', async () => {
      const res = await api.post('Patient', { resourceType: 'Patient', gender: 'unknown' }).set('Prefer', 'return=representation');
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ resourceType: 'Patient', gender: 'unknown' });
    });
  });

  describe('$validate', () => {
    const errors = (oo: Json) => (oo.issue as Json[]).filter((i) => i.severity === 'error' || i.severity === 'fatal');

    it('a valid Patient: 200 OperationOutcome without errors, and nothing is stored', async () => {
      const before = await api.historyTotal('Patient');
      const res = await api.post('Patient/$validate', example('Patient-example.json'));
      expect(res.status).toBe(200);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(errors(res.body)).toEqual([]);
      expect(await api.historyTotal('Patient')).toBe(before);
    });

    it('an invalid Patient: 200 OperationOutcome whose error issues name the paths', async () => {
      const before = await api.historyTotal('Patient');
      const res = await api.post('Patient/$validate', { resourceType: 'Patient', birthDate: 'yesterday', foo: 1 });
      expect(res.status).toBe(200);
      expect(res.body.resourceType).toBe('OperationOutcome');
      const paths = errors(res.body).flatMap((i) => i.expression ?? []);
      expect(paths).toEqual(expect.arrayContaining(['Patient.birthDate', 'Patient.foo']));
      expect(await api.historyTotal('Patient')).toBe(before);
    });

    it('accepts a Parameters wrapper with a "resource" parameter', async () => {
      const wrap = (resource: Json) => ({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource }] });
      const valid = await api.post('Patient/$validate', wrap({ resourceType: 'Patient', active: true }));
      expect(valid.status).toBe(200);
      expect(errors(valid.body)).toEqual([]);
      const invalid = await api.post('Patient/$validate', wrap({ resourceType: 'Patient', active: 'yes' }));
      expect(invalid.status).toBe(200);
      expect(errors(invalid.body).flatMap((i) => i.expression ?? [])).toContain('Patient.active');
    });

    it('a resource of another type is reported', async () => {
      const res = await api.post('Patient/$validate', { resourceType: 'Practitioner', active: true });
      expect(res.status).toBe(200);
      expect(errors(res.body).flatMap((i) => i.expression ?? [])).toContain('resourceType');
    });
  });

  describe('CapabilityStatement', () => {
    it('GET /fhir/metadata needs no token and is truthful about Patient', async () => {
      const res = await api.anonymous().get('metadata');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(res.body).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', kind: 'instance', status: 'active' });
      expect(res.body.format).toEqual(expect.arrayContaining(['application/fhir+json']));
      const rest = res.body.rest[0];
      expect(rest.mode).toBe('server');
      for (const { type } of CASES) {
        const resource = (rest.resource as Json[]).find((r) => r.type === type);
        expect(resource).toBeDefined();
        expect(resource!.interaction.map((i: Json) => i.code)).toEqual(
          expect.arrayContaining(['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create']),
        );
        expect(resource!.versioning).toBe('versioned');
        expect(resource!.updateCreate).toBe(true);
      }
      expect(rest.interaction.map((i: Json) => i.code)).toContain('history-system');
      expect((rest.resource as Json[]).find((r) => r.type === 'Patient')).toMatchObject({ conditionalRead: 'full-support', conditionalDelete: 'single' });
      expect(rest.security.cors).toBe(false); // no CORS_ORIGINS in the tests
    });
  });
});
