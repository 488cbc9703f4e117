import request from 'supertest';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import { DatabaseService } from '../../src/database/database.service';
import { arrayLiteral } from '../../src/fhir/search/search-index.writer';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';
import { clientToken } from '../helpers/ai-recommendations';

type Bundle = { total: number; entry?: Array<{ resource?: Record<string, any> }> };

describe('AuditEvent resources', () => {
  let t: TestApp;
  let admin: FhirRequest;
  let ehr: FhirRequest;
  let ehrToken: string;

  beforeAll(async () => {
    t = await startTestApp();
    admin = FhirRequest.of(t);
    const created = await request(t.app.getHttpServer()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).send({ role: 'ehr-system' });
    expect(created.status).toBe(201);
    ehrToken = await fetchToken(t.app, created.body.client_id, created.body.client_secret);
    ehr = FhirRequest.of(t, ehrToken);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Every AuditEvent stored so far (the recorder writes them a moment after the response). */
  async function events(): Promise<Array<Record<string, any>>> {
    await new Promise((r) => setTimeout(r, 500));
    const res = await admin.get('AuditEvent/_history?_count=1000');
    expect(res.status).toBe(200);
    return ((res.body as Bundle).entry ?? []).map((e) => e.resource as Record<string, any>);
  }

  it('records reads, writes, failures and logins with who, what, outcome and where from', async () => {
    const created = await ehr.post('Patient', { resourceType: 'Patient', name: [{ family: 'Audited' }] });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await ehr.get(`Patient/${id}`)).status).toBe(200);
    expect((await ehr.get('Patient/not-there')).status).toBe(404);
    const badLogin = await request(t.app.getHttpServer()).post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' });
    expect(badLogin.status).toBe(401);

    const all = await events();
    const find = (pred: (e: Record<string, any>) => boolean) => all.find(pred);
    const read = find((e) => e.subtype?.[0]?.code === 'read' && e.entity?.[0]?.what?.reference === `Patient/${id}`);
    expect(read).toBeDefined();
    expect(read?.outcome).toBe('0');
    expect(read?.action).toBe('R');
    expect(read?.agent[0].who.identifier.value).toMatch(/^ehr-system-/);
    expect(read?.agent[0].network.address).toBeDefined();
    expect(find((e) => e.subtype?.[0]?.code === 'create' && e.outcome === '0')).toBeDefined();
    expect(find((e) => e.entity?.[0]?.what?.reference === 'Patient/not-there' && e.outcome === '4')).toBeDefined();
    const login = find((e) => e.type?.code === '110114' && e.outcome === '4');
    expect(login?.agent[0].who.identifier.value).toBe('nobody');
  });

  it('is readable by administrators only and editable by no one', async () => {
    const [one] = await events();
    expect(one).toBeDefined();
    expectOutcome(await ehr.get(`AuditEvent/${one.id}`), 403);
    expectOutcome(await ehr.get('AuditEvent/_history'), 403);
    const systemHistory = (await ehr.get('_history?_count=1000')).body as Bundle;
    expect(systemHistory.entry?.some((e) => e.resource?.resourceType === 'AuditEvent')).toBe(false);
    expect((await admin.get(`AuditEvent/${one.id}`)).status).toBe(200);
    expectOutcome(await admin.put(`AuditEvent/${one.id}`, { ...one, outcome: '8' }), 403);
    expectOutcome(await admin.delete(`AuditEvent/${one.id}`), 403);
    expectOutcome(await admin.post('AuditEvent', { ...one, id: undefined }), 403);
    expect((await admin.get(`AuditEvent/${one.id}`)).body.outcome).toBe(one.outcome);
  });

  it('keeps each AuditEvent once: its history and its version 1 are read from the one stored row', async () => {
    const [one] = await events();
    expect(one).toBeDefined();
    const vread = await admin.get(`AuditEvent/${one.id}/_history/1`);
    expect(vread.status).toBe(200);
    expect(vread.body).toEqual(one);
    expectOutcome(await admin.get(`AuditEvent/${one.id}/_history/2`), 404);
    const instance = (await admin.get(`AuditEvent/${one.id}/_history`)).body as Bundle;
    expect(instance.total).toBe(1);
    expect(instance.entry?.[0].resource).toEqual(one);
    const stored = await t.app.get(DatabaseService).query<{ current: string; history: string }>(
      `SELECT (SELECT count(*) FROM fhir_resource WHERE resource_type = 'AuditEvent') AS current,
              (SELECT count(*) FROM fhir_resource_history WHERE resource_type = 'AuditEvent') AS history`,
    );
    expect(Number(stored[0].current)).toBeGreaterThan(0);
    expect(Number(stored[0].history)).toBe(0);
    // The type's history lists them all, newest first, as before.
    const typeHistory = (await admin.get('AuditEvent/_history?_count=1000')).body as Bundle;
    expect(typeHistory.total).toBeGreaterThanOrEqual(Number(stored[0].current));
  });

  /** The recorded query of an event, decoded. */
  const queryOf = (e: Record<string, any>) => Buffer.from(e.entity?.[0]?.query ?? '', 'base64').toString('utf8');
  const patientsOn = (e: Record<string, any>) => (e.entity ?? []).filter((x: any) => x.role?.code === '1').map((x: any) => x.what.reference);

  it('records searches without the secret values (SSN, phone, address) the store encrypts, keeping the rest of the query', async () => {
    const ssn = '999-35-5867';
    const marker = `Redact${Date.now()}`;
    expect((await ehr.get(`Patient?identifier=${encodeURIComponent(`http://hl7.org/fhir/sid/us-ssn|${ssn}`)}&family=${marker}`)).status).toBe(200);
    expect((await ehr.get(`Patient?phone=555-111-2222&address=${encodeURIComponent('12 Elm Street')}&family=${marker}`)).status).toBe(200);
    expect((await ehr.get(`Observation?subject.identifier=123-45-6789&code=${marker}`)).status).toBe(200);
    const post = await request(t.app.getHttpServer())
      .post('/fhir/Patient/_search')
      .set('Authorization', `Bearer ${ehrToken}`)
      .type('form')
      .send({ telecom: 'jane.roe@example.com', family: marker });
    expect(post.status).toBe(200);

    const mine = (await events()).filter((e) => queryOf(e).includes(marker));
    const queries = mine.map(queryOf);
    expect(queries).toHaveLength(4);
    for (const secret of [ssn, '555-111-2222', 'Elm', '123-45-6789', 'jane.roe']) expect(queries.join(' ')).not.toContain(secret);
    expect(queries).toEqual(
      expect.arrayContaining([
        `identifier=${encodeURIComponent('http://hl7.org/fhir/sid/us-ssn|')}***&family=${marker}`,
        `phone=***&address=***&family=${marker}`,
        `subject.identifier=***&code=${marker}`,
        `telecom=***&family=${marker}`,
      ]),
    );
    // POST _search is a search, with its form recorded as the query.
    expect(mine.find((e) => queryOf(e).startsWith('telecom'))?.subtype[0].code).toBe('search-type');
  });

  it('records parameters the server does not recognise (wrong case, unknown names, modifiers, chains) with their values masked', async () => {
    const ssn = '999-22-1962';
    const marker = `Unknown${Date.now()}`;
    const ignored = await ehr.get(`Patient?IDENTIFIER=${ssn}&family=${marker}`);
    expect(ignored.status).toBe(200);
    expect(JSON.stringify(ignored.body)).toContain('IDENTIFIER'); // answered with the warning "Ignored: IDENTIFIER"
    const post = await request(t.app.getHttpServer()).post('/fhir/Patient/_search').set('Authorization', `Bearer ${ehrToken}`).type('form').send({ ssn, family: marker });
    expect([200, 400]).toContain(post.status);
    await ehr.get(`Observation?subject.SSN=${ssn}&code=${marker}`);

    const queries = (await events()).map(queryOf).filter((q) => q.includes(marker));
    expect(queries).toHaveLength(3);
    expect(queries.join(' ')).not.toContain(ssn);
    expect(queries).toEqual(expect.arrayContaining([`IDENTIFIER=***&family=${marker}`, `ssn=***&family=${marker}`, `subject.SSN=***&code=${marker}`]));
  });

  it("names the patient on reads, vreads, histories and searches of one patient's data, so AuditEvent?patient finds them", async () => {
    const patient = await ehr.post('Patient', { resourceType: 'Patient', name: [{ family: 'Tracked' }] });
    const pid = patient.body.id as string;
    const obs = await ehr.post('Observation', { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${pid}` } });
    expect(obs.status).toBe(201);
    const oid = obs.body.id as string;
    for (const path of [`Observation/${oid}`, `Observation/${oid}/_history/1`, `Observation/${oid}/_history`, `Observation?patient=${pid}`, `Observation?subject=Patient/${pid}`, `Patient/${pid}/Observation`, `Patient/${pid}/$everything`]) {
      expect([path, (await ehr.get(path)).status]).toEqual([path, 200]);
    }
    const system = await ehr.get('?_type=Patient&_count=1');
    expect(system.status).toBe(200);
    // A patient-context token reads only its patient's data: every event of it names that patient.
    const own = await clientToken(t, { role: 'patient', patient: `Patient/${pid}` });
    const marker = `own${Date.now()}`;
    expect((await FhirRequest.of(t, own.token).get(`Observation?code=${marker}`)).status).toBe(200);

    const all = await events();
    const about = (e: Record<string, any>) => patientsOn(e).includes(`Patient/${pid}`);
    const found = all.filter(about).map((e) => `${e.subtype[0].code} ${e.entity[0].description}`);
    expect(found).toEqual(
      expect.arrayContaining([
        `read GET /fhir/Observation/${oid}`,
        `vread GET /fhir/Observation/${oid}/_history/1`,
        `history-instance GET /fhir/Observation/${oid}/_history`,
        'search-type GET /fhir/Observation',
        `search-type GET /fhir/Patient/${pid}/Observation`,
        `operation GET /fhir/Patient/${pid}/$everything`,
      ]),
    );
    expect(all.filter(about).filter((e) => e.entity[0].description === 'GET /fhir/Observation' && /^(patient|subject)=/.test(queryOf(e)))).toHaveLength(2);
    expect(patientsOn(all.find((e) => queryOf(e) === `code=${marker}`) ?? {})).toEqual([`Patient/${pid}`]);
    // The same through the AuditEvent search an auditor would use.
    const byPatient = (await admin.get(`AuditEvent?patient=Patient/${pid}&_count=100`)).body as Bundle;
    expect(byPatient.entry?.some((e) => e.resource?.entity?.[0]?.description === `GET /fhir/Observation/${oid}`)).toBe(true);
    // A system-level search is a read: search-system, action R.
    const sys = all.find((e) => /^GET \/fhir\/?$/.test(e.entity?.[0]?.description) && queryOf(e) === '_type=Patient&_count=1');
    expect([sys?.subtype[0].code, sys?.action]).toEqual(['search-system', 'R']);
  });

  it('records a batch as a batch', async () => {
    const res = await ehr.post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient?_count=1' } }] });
    expect(res.status).toBe(200);
    const requestId = res.headers['x-request-id'];
    const e = (await events()).find((x) => x.entity?.[0]?.detail?.some((d: any) => d.valueString === requestId));
    expect(e?.subtype[0].code).toBe('batch');
  });

  it('finds AuditEvents by every kind of token and string parameter, from their packed index rows, as the events themselves say', async () => {
    // A few reads, a failure and a search by another client, so that values differ between events.
    const p = await ehr.post('Patient', { resourceType: 'Patient', name: [{ family: 'Packed' }] });
    await ehr.get(`Patient/${p.body.id}`);
    await ehr.get('Patient/packed-not-there');
    await admin.get('Patient?family=Packed');
    const all = await events();
    const ids = (b: Bundle) => (b.entry ?? []).map((e) => e.resource?.id as string).sort();
    const search = async (query: string) => {
      const res = await admin.get(`AuditEvent?${query}&_count=1000`);
      expect([query, res.status]).toEqual([query, 200]);
      return ids(res.body as Bundle);
    };
    const expected = (pred: (e: Record<string, any>) => boolean) => all.filter(pred).map((e) => e.id as string).sort();
    const ehrId = all.find((e) => e.agent?.[0]?.who?.identifier?.value?.startsWith('ehr-system-'))?.agent[0].who.identifier.value as string;
    const address = all.find((e) => e.agent?.[0]?.network?.address)?.agent[0].network.address as string;
    // Every event so far was recorded before this search began: the searches' own events come after.
    const stored = new Set(all.map((e) => e.id as string));
    const within = (list: string[]) => list.filter((id) => stored.has(id));

    expect(within(await search('subtype=read'))).toEqual(expected((e) => e.subtype?.some((c: any) => c.code === 'read')));
    expect(within(await search('subtype=http://hl7.org/fhir/restful-interaction|create'))).toEqual(expected((e) => e.subtype?.some((c: any) => c.code === 'create')));
    expect(within(await search('outcome=4'))).toEqual(expected((e) => e.outcome === '4'));
    expect(within(await search('outcome:not=0'))).toEqual(expected((e) => e.outcome !== '0'));
    expect(within(await search(`agent:identifier=urn:fhir-ai-server:client|${ehrId}`))).toEqual(expected((e) => e.agent?.[0]?.who?.identifier?.value === ehrId));
    expect(within(await search('type:text=RESTful'))).toEqual(expected((e) => /restful/i.test(e.type?.display ?? '')));
    expect(within(await search(`address=${address}`))).toEqual(expected((e) => e.agent?.some((a: any) => a.network?.address === address)));
    expect(within(await search(`address:contains=${address.slice(1, -1)}`))).toEqual(expected((e) => e.agent?.some((a: any) => a.network?.address?.includes(address.slice(1, -1)))));
    expect(within(await search('entity-role:missing=false'))).toEqual(expected((e) => e.entity?.some((x: any) => x.role)));
    expect(await search('action=R,C&outcome=nothing-like-this')).toEqual([]);
    // Sorted by a token: the order the events' subtype codes give (ties by id, as every sort ends).
    const sorted = ((await admin.get('AuditEvent?_sort=subtype&_count=1000')).body as Bundle).entry?.map((e) => e.resource?.subtype?.[0]?.code as string) ?? [];
    expect(sorted.length).toBeGreaterThan(5);
    expect(sorted).toEqual([...sorted].sort());
    // The rows are packed: one row per event, none in the per-value tables.
    const db = t.app.get(DatabaseService);
    const counts = await db.query<{ tokens: number; strings: number; packed: number }>(
      `SELECT (SELECT count(*)::int FROM search_token WHERE resource_type = 'AuditEvent') AS tokens,
              (SELECT count(*)::int FROM search_string WHERE resource_type = 'AuditEvent') AS strings,
              (SELECT count(*)::int FROM search_packed WHERE resource_type = 'AuditEvent' AND resource_id = ANY(?::text[])) AS packed`,
      [[...stored]],
    );
    expect(counts).toEqual([{ tokens: 0, strings: 0, packed: stored.size }]);
    // Packed values travel as array literals: any text comes back as it was.
    const awkward = ['a"b', 'c\\d', null, 'NULL', '', 'x,y', '{z}', ' padded ', 'ünï', "it's"];
    expect(await db.query<{ a: Array<string | null> }>('SELECT ?::text[] AS a', [arrayLiteral(awkward)])).toEqual([{ a: awkward }]);
  });

  it('finds AuditEvents by reference and date, and through includes, chains, _has and the compartment, from index tables of their own', async () => {
    const family = `Apart${Date.now()}`;
    const p = await ehr.post('Patient', { resourceType: 'Patient', name: [{ family }] });
    expect(p.status).toBe(201);
    const pid = p.body.id as string;
    await ehr.get(`Patient/${pid}`);
    await ehr.get(`Patient/${pid}`);
    const all = await events();
    const ids = (b: Bundle) => (b.entry ?? []).map((e) => e.resource?.id as string).sort();
    const aboutPatient = (e: Record<string, any>) => (e.entity ?? []).some((x: any) => x.what?.reference === `Patient/${pid}`);
    const expected = all.filter(aboutPatient).map((e) => e.id as string).sort();
    expect(expected.length).toBeGreaterThanOrEqual(2); // the two reads
    const stored = new Set(all.map((e) => e.id as string));
    const within = (list: string[]) => list.filter((id) => stored.has(id));

    // Reference parameters, plain and chained, and the reverse chain from the Patient.
    expect(within(ids((await admin.get(`AuditEvent?entity=Patient/${pid}&_count=1000`)).body))).toEqual(expected);
    expect(within(ids((await admin.get(`AuditEvent?entity:Patient.family=${family}&_count=1000`)).body))).toEqual(expected);
    const viaHas = await admin.get(`Patient?_has:AuditEvent:entity:subtype=read&_id=${pid}`);
    expect(ids(viaHas.body)).toEqual([pid]);
    expect(ids((await admin.get(`Patient?_has:AuditEvent:entity:subtype=delete&_id=${pid}`)).body)).toEqual([]);

    // Dates: the events recorded from the first one about the patient on, and none after tomorrow.
    const first = all.filter(aboutPatient).map((e) => e.recorded as string).sort()[0];
    const since = within(ids((await admin.get(`AuditEvent?date=ge${encodeURIComponent(first)}&_count=1000`)).body));
    expect(since).toEqual(all.filter((e) => e.recorded >= first).map((e) => e.id as string).sort());
    expect((await admin.get(`AuditEvent?date=gt${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}`)).body.total).toBe(0);
    const byDate = ((await admin.get(`AuditEvent?entity=Patient/${pid}&_sort=-date`)).body as Bundle).entry?.map((e) => e.resource?.recorded as string) ?? [];
    expect(byDate).toEqual([...byDate].sort().reverse());

    // Includes both ways, and the Patient's compartment.
    const rev = (await admin.get(`Patient?_id=${pid}&_revinclude=AuditEvent:entity`)).body as Bundle;
    expect(within((rev.entry ?? []).filter((e) => e.resource?.resourceType === 'AuditEvent').map((e) => e.resource?.id as string).sort())).toEqual(expected);
    const inc = (await admin.get(`AuditEvent?_id=${expected[0]}&_include=AuditEvent:entity`)).body as Bundle;
    expect((inc.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`)).toContain(`Patient/${pid}`);
    const compartment = await admin.get(`Patient/${pid}/AuditEvent?_count=1000`);
    expect(compartment.status).toBe(200);
    const named = all.filter((e) => (e.entity ?? []).some((x: any) => x.role?.code === '1' && x.what?.reference === `Patient/${pid}`)).map((e) => e.id as string).sort();
    expect(named.length).toBeGreaterThan(0);
    expect(within(ids(compartment.body))).toEqual(named);

    // The rows are in the tables apart, none in the shared ones.
    const db = t.app.get(DatabaseService);
    const [counts] = await db.query<{ shared: number; apart: number; sharedDates: number; apartDates: number }>(
      `SELECT (SELECT count(*)::int FROM search_reference WHERE resource_type = 'AuditEvent') AS "shared",
              (SELECT count(DISTINCT resource_id)::int FROM search_reference_audit WHERE resource_id = ANY(?::text[])) AS "apart",
              (SELECT count(*)::int FROM search_date WHERE resource_type = 'AuditEvent') AS "sharedDates",
              (SELECT count(DISTINCT resource_id)::int FROM search_date_audit WHERE resource_id = ANY(?::text[])) AS "apartDates"`,
      [[...stored], [...stored]],
    );
    // Every event that names someone or something by reference (agent, entity, source) has rows there.
    const referring = all.filter((e) => [...(e.agent ?? []).map((a: any) => a.who), ...(e.entity ?? []).map((x: any) => x.what), e.source?.observer].some((r) => typeof r?.reference === 'string'));
    expect(referring.length).toBeGreaterThan(0);
    expect(counts).toEqual({ shared: 0, apart: referring.length, sharedDates: 0, apartDates: stored.size });
  });
});
