/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { clientToken } from '../helpers/ai-recommendations';
import { patient } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { ModelRegistry } from '../../src/ai/model-registry.service';
import { createDeidentifier } from '../../src/fhir/bulk/deidentify';
import { deidentificationKey } from '../../src/fhir/bulk/deidentify-key';

/**
 * Who may export what (issue #7's "Data for the next model"): Bulk Data export beyond a patient's
 * own compartment needs system-level read scopes (a clinician's user-level token exports nothing, as
 * its searches are not narrowed to its patients), and a data scientist's de-identified export keeps
 * the model registry's Devices as the registry wrote them, so exported outputs still say which
 * model version made them.
 */
process.env.BULK_EXPORT_POLL_MS = '200';

let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
let groupId: string;
const tokens = { scientist: '', clinician: '', ehr: '', patient: '' };
const server = () => t.app.getHttpServer();

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  await worker.ctx.get(ModelRegistry).seeded;
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  const practitioner = await api.created({ resourceType: 'Practitioner', name: [{ family: 'Doe' }] });
  const mine = await api.created(patient({ generalPractitioner: [{ reference: `Practitioner/${practitioner.id}` }] }));
  const other = await api.created(patient());
  groupId = (await api.created({ resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${mine.id}` } }, { entity: { reference: `Patient/${other.id}` } }] })).id;
  tokens.scientist = (await clientToken(t, { role: 'data-scientist' })).token;
  tokens.clinician = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${practitioner.id}` })).token;
  tokens.ehr = (await clientToken(t, { role: 'ehr-system' })).token;
  tokens.patient = (await clientToken(t, { role: 'patient', patient: `Patient/${mine.id}` })).token;
}, 60000);

afterAll(async () => {
  await pg?.end();
  await worker?.close();
  await t?.close();
});

const kickoff = (path: string, token: string) =>
  request(server()).get(`/fhir/${path}`).set('Authorization', `Bearer ${token}`).set('Accept', 'application/fhir+json').set('Prefer', 'respond-async');

async function exported(path: string, token: string): Promise<Map<string, Json[]>> {
  const res = expectStatus(await kickoff(path, token), 202);
  const statusPath = new URL(res.headers['content-location'] as string).pathname;
  const manifest = await waitFor(
    `export ${path}`,
    async () => {
      const s = await request(server()).get(statusPath).set('Authorization', `Bearer ${token}`);
      return s.status === 200 ? (s.body as Json) : undefined;
    },
    60000,
    100,
  );
  const byType = new Map<string, Json[]>();
  for (const o of manifest.output as Json[]) {
    const f = expectStatus(await request(server()).get(new URL(o.url).pathname).set('Authorization', `Bearer ${token}`).buffer(true).parse((r, cb) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (text += c));
      r.on('end', () => cb(null, text));
    }), 200);
    byType.set(o.type, [...(byType.get(o.type) ?? []), ...(f.body as string).trim().split('\n').map((l) => JSON.parse(l) as Json)]);
  }
  return byType;
}

describe('bulk export needs system-level scopes beyond a patient\'s own compartment (#5)', () => {
  it("refuses a clinician's (user-level) token at system, Patient and Group level, recording nothing", async () => {
    const before = (await pg.query('SELECT count(*)::int AS n FROM bulk_exports')).rows[0].n;
    for (const path of ['$export?_type=Patient', '$export', 'Patient/$export', 'Patient/$export?_type=Observation', `Group/${groupId}/$export`]) {
      const res = await kickoff(path, tokens.clinician);
      expect([path, res.status]).toEqual([path, 403]);
      expect(outcomeText(res.body)).toMatch(/system-level/);
    }
    expect((await pg.query('SELECT count(*)::int AS n FROM bulk_exports')).rows[0].n).toBe(before);
  });

  it('still serves system-level tokens and a patient its own compartment', async () => {
    expect((await kickoff('$export?_type=Patient', tokens.ehr)).status).toBe(202);
    expect((await kickoff(`Group/${groupId}/$export`, t.token)).status).toBe(202);
    expect((await kickoff('Patient/$export', tokens.patient)).status).toBe(202);
    expect((await kickoff('$export', tokens.patient)).status).toBe(403);
  });
});

describe("a data scientist's de-identified export keeps the registry's Devices (#7)", () => {
  it('with model name, version, task, lifecycle and metric labels; other Devices still scrubbed', async () => {
    const pump = await api.created({ resourceType: 'Device', status: 'active', deviceName: [{ name: 'Pump of ward 3, serial 99-1234', type: 'user-friendly-name' }], modelNumber: 'PX-1' });
    const deid = createDeidentifier(deidentificationKey(t.config));
    const devices = (await exported('$export?_type=Device', tokens.scientist)).get('Device') ?? [];
    const byId = new Map(devices.map((d) => [d.id, d]));
    const stored = (await api.read('Device', 'cad-cleveland-1.0.0')).body as Json;
    const model = byId.get(deid.pseudonym('Device', 'cad-cleveland-1.0.0')) as Json;
    expect(model).toMatchObject({ modelNumber: 'cad-cleveland', version: [{ value: '1.0.0' }], deviceName: stored.deviceName, type: stored.type, property: stored.property, status: 'active' });
    expect(model.identifier).toEqual(stored.identifier);
    expect(JSON.stringify(model.property)).toMatch(/"text":"auc"|"text":"accuracy"/);
    const rule = byId.get(deid.pseudonym('Device', 'billing-error-rules-1.0.0')) as Json;
    expect(rule).toMatchObject({ modelNumber: 'billing-error-rules', version: [{ value: '1.0.0' }] });
    const scrubbed = byId.get(deid.pseudonym('Device', pump.id)) as Json;
    expect(scrubbed).toBeDefined();
    expect(JSON.stringify(scrubbed)).not.toMatch(/Pump of ward 3|PX-1/);
  });
});
