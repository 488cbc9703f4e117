import request from 'supertest';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';

type Json = Record<string, any>;

/**
 * Decimal precision (R4 datatypes.html#decimal), 32-bit integers and well-formed text, through the
 * real HTTP stack. Lexemes are asserted on the response text: supertest's parsed body is a double.
 */
describe('decimals, integers and text encoding', () => {
  let t: TestApp;
  let api: FhirRequest;

  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const observation = (status = 'final', value = '1.50') =>
    `{"resourceType":"Observation","status":"${status}","code":{"text":"decimal test"},"subject":{"reference":"Patient/dec-p"},` +
    `"valueQuantity":{"value":${value},"unit":"mg"},"referenceRange":[{"low":{"value":1.0},"high":{"value":123456789012345678.5}}]}`;
  const LEXEMES = ['"value": 1.50', '"value": 1.0', '"value": 123456789012345678.5'];
  const has = (text: string, lexemes = LEXEMES) => lexemes.forEach((l) => expect(text.replace(/":(?=\S)/g, '": ')).toContain(l));

  it('stores and serves the decimal lexemes the client sent, everywhere a resource is served', async () => {
    // The Patient is encrypted at rest, the Observation stored as json: both keep the text.
    const patient = await api.put('Patient/dec-p', '{"resourceType":"Patient","id":"dec-p","extension":[{"url":"http://example.org/weight","valueDecimal":70.10}]}');
    expect(patient.status).toBe(201);
    has(patient.text, ['"valueDecimal": 70.10']);
    has((await api.get('Patient/dec-p')).text, ['"valueDecimal": 70.10']);

    const created = await api.post('Observation', observation());
    expect(created.status).toBe(201);
    has(created.text);
    const id = created.body.id as string;
    has((await api.get(`Observation/${id}`)).text);
    has((await api.get(`Observation/${id}/_history/1`)).text);
    has((await api.get(`Observation/${id}/_history`)).text);
    has((await api.get(`Observation?_id=${id}`)).text);
    has((await api.get(`Observation?_id=${id}&_summary=data`)).text);
    has((await api.get(`Observation/${id}?_pretty=true`)).text);
    has((await api.get(`Patient?_id=dec-p&_revinclude=Observation:subject`)).text);
    const xml = await api.get(`Observation/${id}?_format=xml`);
    expect(xml.text).toContain('<value value="1.50"/>');
    expect(xml.text).toContain('<value value="123456789012345678.5"/>');
    // The server's own logic sees the number: a quantity search finds it.
    expect((await api.get(`Observation?_id=${id}&value-quantity=1.5`)).body.total).toBe(1);

    // Changing another element (JSON Patch) keeps the lexemes; 1.5 for 1.50 is a change, 1.50 again is not.
    const patched = await api.patch(`Observation/${id}`, [{ op: 'replace', path: '/status', value: 'amended' }]);
    expect(patched.status).toBe(200);
    has((await api.get(`Observation/${id}`)).text);
    const same = await api.put(`Observation/${id}`, observation('amended').replace('{"resourceType"', `{"id":"${id}","resourceType"`));
    expect(same.headers.etag).toBe('W/"2"');
    const less = await api.put(`Observation/${id}`, observation('amended', '1.5').replace('{"resourceType"', `{"id":"${id}","resourceType"`));
    expect(less.headers.etag).toBe('W/"3"');
    expect((await api.get(`Observation/${id}`)).text).toMatch(/"value": ?1\.5[,}]/);
  });

  it('serves an exponent lexeme as it was sent; the same value in positional form is no change', async () => {
    const practitioner = (value: string) => `{"resourceType":"Practitioner","id":"dec-e","extension":[{"url":"http://example.org/x","valueDecimal":${value}}]}`;
    expect((await api.put('Practitioner/dec-e', practitioner('1.2e10'))).status).toBe(201);
    expect((await api.get('Practitioner/dec-e')).text).toContain('"valueDecimal":1.2e10');
    expect((await api.get('Practitioner?_id=dec-e')).text).toContain('"valueDecimal":1.2e10');
    const same = await api.put('Practitioner/dec-e', practitioner('12000000000'));
    expect(same.headers.etag).toBe('W/"1"');
    expect((await api.get('Practitioner/dec-e')).text).toContain('"valueDecimal":1.2e10');
  });

  it('keeps lexemes in transaction responses and from XML bodies', async () => {
    const bundle = `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:6a9a3c5e-1f1e-4a43-9d3a-3c1f2b6d8e01","resource":${observation()},"request":{"method":"POST","url":"Observation"}}]}`;
    const tx = await api.post('', bundle);
    expect(tx.status).toBe(200);
    has(tx.text);
    const xml = `<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="xml"/></code><valueQuantity><value value="1.50"/></valueQuantity></Observation>`;
    const created = await api.post('Observation', xml, 'application/fhir+xml');
    expect(created.status).toBe(201);
    has((await api.get(`Observation/${created.body.id}`)).text, ['"value": 1.50']);
  });

  it('refuses integers outside 32 bits or written as decimals, naming the element, and stores nothing', async () => {
    const before = await api.historyTotal('Patient');
    for (const value of ['3000000000', '-2147483649', '1.0', '1e2']) {
      expectOutcome(await api.post('Patient', `{"resourceType":"Patient","multipleBirthInteger":${value}}`), 400, 'Patient.multipleBirthInteger');
    }
    expectOutcome(await api.post('Patient', '<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="3000000000"/></Patient>', 'application/fhir+xml'), 400);
    expect((await api.post('Patient', '{"resourceType":"Patient","multipleBirthInteger":2147483647}')).status).toBe(201);
    expect(await api.historyTotal('Patient')).toBe(before + 1);
  });

  it('refuses bodies that are not valid UTF-8 and strings with a lone surrogate, and stores nothing', async () => {
    const before = await api.historyTotal('Patient');
    // Raw bytes through fetch: superagent would serialise a Buffer as JSON.
    const raw = async (body: Buffer, type: string) => {
      const res = await fetch(`${t.baseUrl}/fhir/Patient`, { method: 'POST', body, headers: { Authorization: `Bearer ${t.token}`, 'Content-Type': type } });
      return { status: res.status, body: (await res.json()) as Json, headers: { 'content-type': res.headers.get('content-type') } } as unknown as request.Response;
    };
    const bad = Buffer.concat([Buffer.from('{"resourceType":"Patient","name":[{"family":"bad'), Buffer.from([0xff, 0xfe]), Buffer.from('utf8"}]}')]);
    const json: Json = expectOutcome(await raw(bad, 'application/fhir+json'), 400);
    expect(json.issue[0].diagnostics).toBe('The body is not valid UTF-8');
    const badXml = Buffer.concat([Buffer.from('<Patient xmlns="http://hl7.org/fhir"><name><family value="bad'), Buffer.from([0xff, 0xfe]), Buffer.from('"/></name></Patient>')]);
    expect((expectOutcome(await raw(badXml, 'application/fhir+xml'), 400) as Json).issue[0].diagnostics).toBe('The body is not valid UTF-8');
    const lone: Json = expectOutcome(await api.post('Patient', '{"resourceType":"Patient","name":[{"family":"bad\\ud800"}]}'), 400, 'Patient.name[0].family');
    expect(lone.issue[0].diagnostics).toBe('A string holds a lone surrogate at Patient.name[0].family');
    expect(await api.historyTotal('Patient')).toBe(before);
    // Valid text still passes: a character outside the BMP, escaped and raw.
    expect((await api.post('Patient', '{"resourceType":"Patient","name":[{"family":"smile \\ud83d\\ude00 😀"}]}')).status).toBe(201);
  });
});
