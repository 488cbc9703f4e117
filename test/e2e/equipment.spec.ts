import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectOperationOutcome, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { fhirKitClient, type FhirKitClient } from '../helpers/fhir-kit';
import { rawClient } from '../helpers/test-database';
import { clientToken } from '../helpers/ai-recommendations';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Equipment and staff (the `resources` table) through the FHIR API and fhir-kit-client: Devices
 * projected with their availability, availability in a window (device status, practitioner
 * hours and absences, appointments that book them), and predictive maintenance from
 * DeviceUseStatements (flag at 90% of the interval, one Task per device, cleared by maintenance).
 */

const INTERVAL = 'https://fhir-ai-server.dev/StructureDefinition/maintenance-interval-hours';
const LAST_MAINTENANCE = 'https://fhir-ai-server.dev/StructureDefinition/last-maintenance';
const PREDICTIVE = 'https://fhir-ai-server.dev/StructureDefinition/predictive-maintenance';
const H = 3_600_000;
const D = 24 * H;

let t: TestApp;
let api: FhirApi;
let pg: Client;
let kit: FhirKitClient;
let patient: string;

beforeAll(async () => {
  t = await startTestApp();
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  kit = fhirKitClient(t.baseUrl, t.token);
  patient = (await api.created({ resourceType: 'Patient', name: [{ family: 'Equipment', given: ['Eve'] }] })).id;
});

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

const get = (path: string, token = t.token) => request(t.app.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);

function device(name: string, extra: Json = {}): Json {
  return {
    resourceType: 'Device',
    status: 'active',
    deviceName: [{ name, type: 'user-friendly-name' }],
    type: { coding: [{ system: 'http://snomed.info/sct', code: '706172005', display: 'Ventilator' }] },
    ...extra,
  };
}

function usage(deviceId: string, start: number, hours: number): Json {
  return {
    resourceType: 'DeviceUseStatement',
    status: 'completed',
    subject: { reference: `Patient/${patient}` },
    device: { reference: `Device/${deviceId}` },
    timingPeriod: { start: new Date(start).toISOString(), end: new Date(start + hours * H).toISOString() },
  };
}

async function resourceRow(id: string): Promise<Json | undefined> {
  return (await pg.query('SELECT type, availability, predictive_maintenance FROM resources WHERE id = $1', [id])).rows[0];
}

const forecastOf = async (id: string): Promise<Json> => (await resourceRow(id))!.predictive_maintenance;

describe('Devices are projected onto resources', () => {
  it('projects equipment with its status-based availability, but not AI model Devices', async () => {
    const ok = await api.created(device('Ventilator A'));
    const off = await api.created(device('Ventilator B', { statusReason: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/device-status-reason', code: 'offline' }] }] }));
    const ai = await api.created({ resourceType: 'Device', status: 'active', type: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: 'triage' }] } });
    expect(await resourceRow(ok.id)).toEqual({
      type: 'equipment',
      availability: { resource: `Device/${ok.id}`, name: 'Ventilator A', device_type: 'Ventilator', status: 'active', available: true, reasons: [] },
      predictive_maintenance: null,
    });
    expect((await resourceRow(off.id))!.availability).toMatchObject({ available: false, reasons: ['statusReason offline'] });
    expect(await resourceRow(ai.id)).toBeUndefined();
    // Status changes follow; entered-in-error removes the row.
    await api.updated({ ...ok, status: 'inactive' });
    expect((await resourceRow(ok.id))!.availability).toMatchObject({ status: 'inactive', available: false, reasons: ['status inactive'] });
    await api.updated({ ...ok, status: 'entered-in-error' });
    expect(await resourceRow(ok.id)).toBeUndefined();
  });

  it('refuses invalid maintenance extensions with an OperationOutcome and stores nothing', async () => {
    const before = Number((await pg.query(`SELECT count(*) FROM fhir_resource WHERE resource_type = 'Device'`)).rows[0].count);
    const rowsBefore = Number((await pg.query('SELECT count(*) FROM resources')).rows[0].count);
    const bad = await api.create(device('Bad', { extension: [{ url: INTERVAL, valueDecimal: -5 }] }));
    expect(bad.status).toBe(400);
    expect(outcomeText(bad.body)).toContain('maintenance-interval-hours');
    const future = await api.create(device('Future', { extension: [{ url: INTERVAL, valueDecimal: 10 }, { url: LAST_MAINTENANCE, valueDateTime: '2099-01-01T00:00:00Z' }] }));
    expect(future.status).toBe(400);
    expect(outcomeText(future.body)).toContain('last-maintenance');
    const err = await kit.create({ resourceType: 'Device', body: device('Kit bad', { extension: [{ url: INTERVAL, valueString: 'often' }] }) as Json & { resourceType: string } }).then(
      () => undefined,
      (e: { response: { status: number; data: Json } }) => e,
    );
    expect(err?.response.status).toBe(400);
    expectOperationOutcome(err!.response.data);
    expect(Number((await pg.query(`SELECT count(*) FROM fhir_resource WHERE resource_type = 'Device'`)).rows[0].count)).toBe(before);
    expect(Number((await pg.query('SELECT count(*) FROM resources')).rows[0].count)).toBe(rowsBefore);
  });
});

describe('predictive maintenance from usage', () => {
  const INTERVAL_H = 100;
  let dev: Json;
  let since: number;

  beforeAll(async () => {
    since = Date.now() - 10 * D;
    dev = await api.created(device('Infusion pump 7', { extension: [{ url: INTERVAL, valueDecimal: INTERVAL_H }, { url: LAST_MAINTENANCE, valueDateTime: new Date(since).toISOString() }] }));
  });

  const task = async () => api.read('Task', `maintenance-${dev.id}`);

  it('starts with a forecast of 0 h and no Task', async () => {
    expect(await forecastOf(dev.id)).toMatchObject({ flag: false, hours_since_maintenance: 0, interval_hours: INTERVAL_H, method: 'usage-hours-linear', method_version: '1.0.0', predicted_date: null });
    expect((await task()).status).toBe(404);
    expect(dev.extension.some((e: Json) => e.url === PREDICTIVE)).toBe(true);
    // The forecast names the method version that made it: its Device in the registry (ai_models).
    const ext = dev.extension.find((e: Json) => e.url === PREDICTIVE);
    expect(ext.extension.find((e: Json) => e.url === 'model')?.valueReference?.reference).toBe('Device/usage-hours-linear-1.0.0');
  });

  it('counts recorded usage and extrapolates the date; flags within the 14-day horizon before 90% is reached', async () => {
    await api.created(usage(dev.id, since + 1 * D, 20)); // 20 h
    await kit.create({ resourceType: 'DeviceUseStatement', body: usage(dev.id, since + 3 * D, 30) as Json & { resourceType: string } }); // 30 h, overlapping nothing
    // An overlapping statement does not count its shared hours twice: 2 h inside the 30 h above, 4 h outside.
    await api.created(usage(dev.id, since + 3 * D + 28 * H, 6));
    const f = await forecastOf(dev.id);
    const hours = 20 + 30 + 4;
    expect(f.hours_since_maintenance).toBe(hours);
    // Computed here independently: rate over the days since maintenance (< 30), extrapolated from generated_at.
    const now = Date.parse(f.generated_at);
    const rate = hours / ((now - since) / D);
    expect(f.rate_hours_per_day).toBeCloseTo(rate, 2);
    const predicted = new Date(now + ((INTERVAL_H - hours) / rate) * D).toISOString().slice(0, 10);
    expect(f.predicted_date).toBe(predicted);
    expect(f.flag).toBe(Date.parse(predicted) - now <= 14 * D);
    // rate ≈ 5.4 h/day → 46 h left ≈ 8.5 days: within the 14-day horizon, so the flag is already up.
    expect(f.flag).toBe(true);
    expect(f.reason).toMatch(/within 14 days/);
    const tk = expectStatus(await task(), 200).body;
    expect(tk).toMatchObject({ status: 'requested', focus: { reference: `Device/${dev.id}` }, code: { coding: [{ code: 'preventive-maintenance' }] } });
  });

  it('raises no second Task while the flag stays up, and lists the device in GET /api/resources/maintenance', async () => {
    await api.created(usage(dev.id, since + 5 * D, 36)); // 90 h: the 90% threshold
    const f = await forecastOf(dev.id);
    expect(f.hours_since_maintenance).toBe(90);
    expect(f.reason).toBe('90 h of 100 h used (90% reached)');
    expect(expectStatus(await task(), 200).body.meta.versionId).toBe('1');
    const tasks = expectStatus(await api.search('Task', { focus: `Device/${dev.id}` }), 200).body;
    expect(tasks.entry).toHaveLength(1);
    const list = expectStatus(await get('/api/resources/maintenance?flagged=true'), 200).body as Json[];
    const mine = list.find((m) => m.resource === `Device/${dev.id}`);
    expect(mine).toMatchObject({ name: 'Infusion pump 7', task: `Task/maintenance-${dev.id}`, predictive_maintenance: { flag: true, hours_since_maintenance: 90 } });
    expect(expectStatus(await get('/api/resources/maintenance?flagged=maybe'), 400).body.resourceType).toBe('OperationOutcome');
  });

  it('a deleted usage no longer counts', async () => {
    const extra = await api.created(usage(dev.id, since + 6.6 * D, 4)); // after the 36 h above ended
    expect((await forecastOf(dev.id)).hours_since_maintenance).toBe(94);
    expectStatus(await api.delete('DeviceUseStatement', extra.id), 200);
    expect((await forecastOf(dev.id)).hours_since_maintenance).toBe(90);
  });

  it('refuses a usage whose timingPeriod ends before it starts (400), storing nothing', async () => {
    const before = (await forecastOf(dev.id)).hours_since_maintenance;
    const count = async () => Number((await pg.query(`SELECT count(*) AS n FROM fhir_patient_resource WHERE resource_type = 'DeviceUseStatement' AND NOT deleted`)).rows[0].n);
    const stored = await count();
    const backwards = { ...usage(dev.id, since + 7 * D, 1), timingPeriod: { start: new Date(since + 7 * D).toISOString(), end: new Date(since + 6 * D).toISOString() } };
    const res = await api.create(backwards);
    expect(res.status).toBe(400);
    expectOperationOutcome(res.body);
    expect(outcomeText(res.body)).toMatch(/timingPeriod.end .* is before timingPeriod.start/);
    const dayBefore = await api.create({ ...backwards, timingPeriod: { start: '2026-01-05T10:00:00Z', end: '2026-01-04' } });
    expect(dayBefore.status).toBe(400);
    expect(await count()).toBe(stored);
    expect((await forecastOf(dev.id)).hours_since_maintenance).toBe(before);
  });

  it('concurrent usages of one device are both counted', async () => {
    const [a, b] = await Promise.all([api.create(usage(dev.id, since + 7 * D, 3)), api.create(usage(dev.id, since + 8 * D, 5))]);
    expect([a.status, b.status]).toEqual([201, 201]);
    const f = await forecastOf(dev.id);
    expect(f.hours_since_maintenance).toBe(98);
    expect(f.flag).toBe(true);
    const device = expectStatus(await api.read('Device', dev.id), 200).body;
    const ext = device.extension.find((e: Json) => e.url === PREDICTIVE);
    expect(ext.extension.find((e: Json) => e.url === 'hoursSinceMaintenance').valueDecimal).toBe(98);
  });

  it('recording maintenance clears the flag and completes the Task; a new flag reopens the same Task', async () => {
    const current = expectStatus(await api.read('Device', dev.id), 200).body;
    const maintained = Date.now() - 36 * H; // after every usage above
    const ext = current.extension.filter((e: Json) => e.url !== LAST_MAINTENANCE).concat([{ url: LAST_MAINTENANCE, valueDateTime: new Date(maintained).toISOString() }]);
    await api.updated({ ...current, extension: ext });
    expect(await forecastOf(dev.id)).toMatchObject({ flag: false, hours_since_maintenance: 0, last_maintenance: new Date(maintained).toISOString() });
    const done = expectStatus(await task(), 200).body;
    expect(done.status).toBe('completed');
    expect((await kit.read({ resourceType: 'Task', id: `maintenance-${dev.id}` }) as Json).status).toBe('completed');
    // Heavy use after the maintenance: 30 h in 1.5 days = 20 h/day, 70 h left → ~3.5 days: the same Task reopens.
    await api.created(usage(dev.id, maintained + H, 30));
    const f = await forecastOf(dev.id);
    expect(f).toMatchObject({ flag: true, hours_since_maintenance: 30 });
    expect(f.rate_hours_per_day).toBeCloseTo(30 / ((Date.parse(f.generated_at) - maintained) / D), 2);
    expect(f.reason).toMatch(/within 14 days/);
    const reopened = expectStatus(await task(), 200).body;
    expect(reopened).toMatchObject({ status: 'requested', priority: 'routine' });
    expect(reopened.meta.versionId).toBe('3');
    expect(expectStatus(await api.search('Task', { focus: `Device/${dev.id}` }), 200).body.entry).toHaveLength(1);
  });
});

describe('GET /api/resources/availability', () => {
  // Monday 2027-03-01, 10:00–11:00 UTC
  const from = '2027-03-01T10:00:00Z';
  const to = '2027-03-01T11:00:00Z';
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    ids.free = (await api.created(device('Free scanner'))).id;
    ids.booked = (await api.created(device('Booked scanner'))).id;
    ids.inactive = (await api.created(device('Broken scanner', { status: 'inactive' }))).id;
    const doc = async (family: string) => (await api.created({ resourceType: 'Practitioner', name: [{ family, given: ['Dr'] }] })).id;
    for (const name of ['onDuty', 'bookedDoc', 'bookedViaRole', 'afternoon', 'away', 'noRole']) ids[name] = await doc(name);
    const role = async (who: string, extra: Json = {}) =>
      (await api.created({
        resourceType: 'PractitionerRole',
        active: true,
        practitioner: { reference: `Practitioner/${ids[who]}` },
        availableTime: [{ daysOfWeek: ['mon', 'tue', 'wed', 'thu', 'fri'], availableStartTime: '09:00:00', availableEndTime: '17:00:00' }],
        ...extra,
      })).id;
    await role('onDuty');
    await role('bookedDoc');
    ids.viaRole = await role('bookedViaRole');
    await role('afternoon', { availableTime: [{ daysOfWeek: ['mon'], availableStartTime: '13:00:00', availableEndTime: '17:00:00' }] });
    await role('away', { notAvailable: [{ description: 'On leave', during: { start: '2027-03-01T00:00:00Z', end: '2027-03-05T00:00:00Z' } }] });
    const appointment = (actors: string[], start: string, end: string, status = 'booked') => ({
      resourceType: 'Appointment',
      status,
      start,
      end,
      participant: [{ actor: { reference: `Patient/${patient}` }, status: 'accepted' }, ...actors.map((reference) => ({ actor: { reference }, status: 'accepted' }))],
    });
    // Overlapping the window by 15 minutes: books the scanner and a doctor.
    ids.appt = (await api.created(appointment([`Device/${ids.booked}`, `Practitioner/${ids.bookedDoc}`], '2027-03-01T10:45:00Z', '2027-03-01T11:15:00Z'))).id;
    ids.roleAppt = (await api.created(appointment([`PractitionerRole/${ids.viaRole}`], '2027-03-01T09:30:00Z', '2027-03-01T10:30:00Z'))).id;
    // Touching the window's edges or cancelled: books nothing in it.
    await api.created(appointment([`Device/${ids.free}`, `Practitioner/${ids.onDuty}`], '2027-03-01T09:00:00Z', '2027-03-01T10:00:00Z'));
    await api.created(appointment([`Device/${ids.free}`], '2027-03-01T10:00:00Z', '2027-03-01T10:30:00Z', 'cancelled'));
  });

  const byRef = (body: Json) => new Map<string, Json>((body.resources as Json[]).map((r) => [r.resource, r]));

  it('lists equipment and staff free for the whole window, with the reasons of the others', async () => {
    const body = expectStatus(await get(`/api/resources/availability?from=${from}&to=${to}`), 200).body;
    const r = byRef(body);
    expect(r.get(`Device/${ids.free}`)).toMatchObject({ kind: 'equipment', name: 'Free scanner', available: true, reasons: [], bookings: [] });
    expect(r.get(`Device/${ids.booked}`)).toMatchObject({ available: false, bookings: [`Appointment/${ids.appt}`], reasons: [`booked: Appointment/${ids.appt}`] });
    expect(r.get(`Device/${ids.inactive}`)).toMatchObject({ available: false, reasons: ['status inactive'] });
    expect(r.get(`Practitioner/${ids.onDuty}`)).toMatchObject({ kind: 'staff', name: 'Dr onDuty', available: true });
    expect(r.get(`Practitioner/${ids.bookedDoc}`)).toMatchObject({ available: false, bookings: [`Appointment/${ids.appt}`] });
    expect(r.get(`Practitioner/${ids.bookedViaRole}`)).toMatchObject({ available: false, bookings: [`Appointment/${ids.roleAppt}`] });
    expect(r.get(`Practitioner/${ids.afternoon}`)).toMatchObject({ available: false, reasons: ['outside available hours'] });
    expect(r.get(`Practitioner/${ids.away}`)).toMatchObject({ available: false, reasons: ['not available: On leave'] });
    expect(r.has(`Practitioner/${ids.noRole}`)).toBe(false);
    for (const ref of [`Device/${ids.free}`, `Practitioner/${ids.onDuty}`]) expect(body.available).toContain(ref);
    for (const ref of [`Device/${ids.booked}`, `Device/${ids.inactive}`, `Practitioner/${ids.bookedDoc}`, `Practitioner/${ids.away}`]) expect(body.available).not.toContain(ref);
  });

  it('answers for another window and per type', async () => {
    // 14:00–15:00: the afternoon doctor is on, the booked ones are free.
    const r = byRef(expectStatus(await get('/api/resources/availability?type=staff&from=2027-03-01T14:00:00Z&to=2027-03-01T15:00:00Z'), 200).body);
    expect([...r.values()].every((x) => x.kind === 'staff')).toBe(true);
    for (const who of ['afternoon', 'bookedDoc', 'bookedViaRole', 'onDuty']) expect(r.get(`Practitioner/${ids[who]}`)!.available).toBe(true);
    // Saturday: nobody with weekday hours.
    const sat = byRef(expectStatus(await get('/api/resources/availability?type=staff&from=2027-03-06T10:00:00Z&to=2027-03-06T11:00:00Z'), 200).body);
    expect(sat.get(`Practitioner/${ids.onDuty}`)).toMatchObject({ available: false, reasons: ['outside available hours'] });
    const eq = expectStatus(await get(`/api/resources/availability?type=equipment&from=${from}&to=${to}`), 200).body;
    expect((eq.resources as Json[]).every((x) => x.kind === 'equipment')).toBe(true);
  });

  it('refuses bad parameters and patient-context tokens with an OperationOutcome', async () => {
    for (const q of [`type=robots&from=${from}&to=${to}`, `from=yesterday&to=${to}`, `from=${to}&to=${from}`, `to=${to}`, 'from=2027-01-01&to=2027-03-01']) {
      const res = await get(`/api/resources/availability?${q}`);
      expect(res.status).toBe(400);
      expectOperationOutcome(res.body);
    }
    const asPatient = await clientToken(t, { role: 'patient', patient: `Patient/${patient}` });
    const res = await get(`/api/resources/availability?from=${from}&to=${to}`, asPatient.token);
    expect(res.status).toBe(403);
    expectOperationOutcome(res.body);
  });
});
