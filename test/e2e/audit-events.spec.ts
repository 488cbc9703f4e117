import request from 'supertest';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import { DatabaseService } from '../../src/database/database.service';
import { fetchToken, startTestApp, type TestApp } from '../helpers/test-app';

type Bundle = { total: number; entry?: Array<{ resource?: Record<string, any> }> };

describe('AuditEvent resources', () => {
  let t: TestApp;
  let admin: FhirRequest;
  let ehr: FhirRequest;

  beforeAll(async () => {
    t = await startTestApp();
    admin = FhirRequest.of(t);
    const created = await request(t.app.getHttpServer()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).send({ role: 'ehr-system' });
    expect(created.status).toBe(201);
    ehr = FhirRequest.of(t, await fetchToken(t.app, created.body.client_id, created.body.client_secret));
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
});

