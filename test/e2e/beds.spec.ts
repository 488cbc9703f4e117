import request from 'supertest';
import type { Client } from 'pg';
import { FhirApi, expectOperationOutcome, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { fhirKitClient, type FhirKitClient } from '../helpers/fhir-kit';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { forecastOccupancy } from '../../src/hospital/beds/occupancy-forecast';

/**
 * Beds (issue #9): beds are Locations with physicalType bd, allocated through Encounter.location;
 * one patient per bed and one bed per patient (409 naming what is in the way), release and
 * re-admission, the `beds` projection, occupancy over time and its forecast.
 */

const DAY = 86_400_000;
const PHYSICAL = 'http://terminology.hl7.org/CodeSystem/location-physical-type';
const now = Date.now();
const ago = (days: number) => new Date(now - days * DAY).toISOString();

let t: TestApp;
let api: FhirApi;
let kit: FhirKitClient;
let pg: Client;
const p: Record<string, string> = {};
const loc: Record<string, string> = {};

function location(name: string, code: string, partOf?: string): Json {
  return {
    resourceType: 'Location',
    name,
    status: 'active',
    physicalType: { coding: [{ system: PHYSICAL, code }] },
    ...(partOf ? { partOf: { reference: `Location/${partOf}` } } : {}),
  };
}

function encounter(patient: string, locations: Json[], extra: Json = {}): Json & { resourceType: string } {
  return {
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
    subject: { reference: `Patient/${patient}` },
    location: locations,
    ...extra,
  };
}

const stay = (bed: string, status: string, start: string, end?: string): Json => ({
  location: { reference: `Location/${bed}` },
  status,
  period: end ? { start, end } : { start },
});

async function bedRow(bed: string): Promise<Json> {
  return (await pg.query('SELECT id, room_number, ward_id, occupied, patient_id, occupancy_prediction FROM beds WHERE id = $1', [bed])).rows[0];
}

async function encountersOf(patient: string): Promise<Json[]> {
  const bundle = expectStatus(await api.search('Encounter', { subject: `Patient/${patient}` }), 200).body;
  return (bundle.entry ?? []).map((e: Json) => e.resource);
}

function get(path: string): request.Test {
  return request(t.app.getHttpServer()).get(path).set('Authorization', `Bearer ${t.token}`);
}

beforeAll(async () => {
  t = await startTestApp();
  api = new FhirApi(t);
  kit = fhirKitClient(t.baseUrl, t.token);
  pg = await rawClient(t.db.url);
  for (const name of ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J']) {
    p[name] = (await api.created({ resourceType: 'Patient', name: [{ family: `Patient${name}` }] })).id;
  }
  loc.w1 = (await api.created(location('Ward 1', 'wa'))).id;
  loc.w2 = (await api.created(location('Ward 2', 'wa'))).id;
  loc.w3 = (await api.created(location('Ward 3', 'wa'))).id;
  loc.b1 = (await api.created(location('Bed 1-1', 'bd', loc.w1))).id;
  loc.b2 = (await api.created(location('Bed 1-2', 'bd', loc.w1))).id;
  loc.b3 = (await api.created(location('Bed 2-1', 'bd', loc.w2))).id;
  loc.room = (await api.created(location('Day room', 'ro', loc.w1))).id;
  for (const i of [1, 2, 3, 4]) loc[`f${i}`] = (await api.created(location(`Bed 3-${i}`, 'bd', loc.w3))).id;
});

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

describe('the beds projection', () => {
  it('has a row per bed Location with its name and ward, and none for other Locations', async () => {
    expect(await bedRow(loc.b1)).toMatchObject({ room_number: 'Bed 1-1', ward_id: loc.w1, occupied: false, patient_id: null });
    expect(await bedRow(loc.b3)).toMatchObject({ ward_id: loc.w2 });
    expect(await bedRow(loc.room)).toBeUndefined();
    expect(await bedRow(loc.w1)).toBeUndefined();
  });
});

describe('allocation', () => {
  let admissionA: Json;

  it('admits a patient to a free bed and marks it occupied', async () => {
    admissionA = await api.created(encounter(p.A, [stay(loc.b1, 'active', ago(2))], { period: { start: ago(2) } }));
    expect(await bedRow(loc.b1)).toMatchObject({ occupied: true, patient_id: p.A });
    const beds = expectStatus(await get('/api/beds'), 200).body as Json[];
    expect(beds.find((b) => b.bed === `Location/${loc.b1}`)).toMatchObject({ occupied: true, patient: `Patient/${p.A}`, ward: `Location/${loc.w1}` });
  });

  it('refuses an overlapping admission to an occupied bed, naming the bed and the encounter, and stores nothing', async () => {
    const res = await api.create(encounter(p.B, [stay(loc.b1, 'active', ago(1))]));
    expect(res.status).toBe(409);
    expectOperationOutcome(res.body);
    expect(res.body.issue[0].code).toBe('conflict');
    const text = outcomeText(res.body);
    expect(text).toContain(`Location/${loc.b1} is occupied`);
    expect(text).toContain(`Encounter/${admissionA.id}`);
    expect(await encountersOf(p.B)).toEqual([]);
    expect(await bedRow(loc.b1)).toMatchObject({ patient_id: p.A });
  });

  it('refuses a second bed for one patient, in another encounter or in the same one', async () => {
    const res = await api.create(encounter(p.A, [stay(loc.b2, 'active', ago(1))]));
    expect(res.status).toBe(409);
    const text = outcomeText(res.body);
    expect(text).toContain(`Patient/${p.A} already has a bed: Location/${loc.b1} in Encounter/${admissionA.id}`);
    const both = await api.create(encounter(p.C, [stay(loc.b2, 'active', ago(1)), stay(loc.b3, 'active', ago(0.5))]));
    expect(both.status).toBe(409);
    expect(outcomeText(both.body)).toContain('at the same time');
    expect(await encountersOf(p.C)).toEqual([]);
    expect(await bedRow(loc.b2)).toMatchObject({ occupied: false });
  });

  it('refuses through fhir-kit-client as well', async () => {
    let error: { response?: { status: number; data: Json } } | undefined;
    try {
      await kit.create({ resourceType: 'Encounter', body: encounter(p.D, [stay(loc.b1, 'active', ago(0.5))]) });
    } catch (e) {
      error = e as typeof error;
    }
    expect(error?.response?.status).toBe(409);
    expect(error?.response?.data.resourceType).toBe('OperationOutcome');
  });

  it('releases the bed when the admitting Encounter is deleted', async () => {
    const patientId = (await api.created({ resourceType: 'Patient', name: [{ family: 'Deleted-stay' }] })).id;
    const admission = await api.created(encounter(patientId, [stay(loc.b2, 'active', ago(1))]));
    expect(await bedRow(loc.b2)).toMatchObject({ occupied: true, patient_id: patientId });
    expectStatus(await api.delete('Encounter', admission.id), 200);
    expect(await bedRow(loc.b2)).toMatchObject({ occupied: false, patient_id: null });
  });

  it('lets a transfer follow back to back, and lets a room hold several patients', async () => {
    const transfer = await api.created(encounter(p.C, [stay(loc.b2, 'completed', ago(3), ago(2)), stay(loc.b3, 'active', ago(2))]));
    expect(transfer.location).toHaveLength(2);
    expect(await bedRow(loc.b3)).toMatchObject({ occupied: true, patient_id: p.C });
    await api.created(encounter(p.D, [stay(loc.room, 'active', ago(1))]));
    await api.created(encounter(p.E, [stay(loc.room, 'active', ago(1))]));
  });

  it('releases the bed when the location is completed, then re-admits someone else', async () => {
    const end = new Date(now - 60_000).toISOString();
    const released = await api.updated({ ...admissionA, location: [stay(loc.b1, 'completed', ago(2), end)] });
    expect(released.location[0].status).toBe('completed');
    expect(await bedRow(loc.b1)).toMatchObject({ occupied: false, patient_id: null });
    const next = await api.created(encounter(p.B, [stay(loc.b1, 'active', end)]));
    expect(await bedRow(loc.b1)).toMatchObject({ occupied: true, patient_id: p.B });
    // A is free to take another bed now
    const b2 = await api.created(encounter(p.A, [stay(loc.b2, 'active', end)]));
    expect(await bedRow(loc.b2)).toMatchObject({ occupied: true, patient_id: p.A });
    // the encounter finishing releases its bed too
    await api.updated({ ...b2, status: 'finished', period: { start: end, end: new Date(now).toISOString() } });
    expect(await bedRow(loc.b2)).toMatchObject({ occupied: false, patient_id: null });
    expect(next.id).toBeDefined();
  });

  it('holds a reserved bed against overlapping admissions, but not back to back', async () => {
    const from = new Date(now + 2 * DAY).toISOString();
    const to = new Date(now + 4 * DAY).toISOString();
    await api.created(encounter(p.F, [stay(loc.b2, 'reserved', from, to)], { status: 'planned' }));
    expect(await bedRow(loc.b2)).toMatchObject({ occupied: false });
    const clash = await api.create(encounter(p.G, [stay(loc.b2, 'active', new Date(now).toISOString(), new Date(now + 3 * DAY).toISOString())]));
    expect(clash.status).toBe(409);
    await api.created(encounter(p.G, [stay(loc.b2, 'active', new Date(now).toISOString(), from)]));
    expect(await bedRow(loc.b2)).toMatchObject({ occupied: true, patient_id: p.G });
  });

  it('lets exactly one of two simultaneous admissions to the same bed win, and one of two beds for one patient', async () => {
    const bedH = await api.created(location('Bed 2-2', 'bd', loc.w2));
    const [x, y] = await Promise.all([
      api.create(encounter(p.H, [stay(bedH.id, 'active', ago(0.1))])),
      api.create(encounter(p.I, [stay(bedH.id, 'active', ago(0.1))])),
    ]);
    expect([x.status, y.status].sort()).toEqual([201, 409]);
    const winner = x.status === 201 ? p.H : p.I;
    expect(await bedRow(bedH.id)).toMatchObject({ occupied: true, patient_id: winner });

    const bedJ1 = await api.created(location('Bed 2-3', 'bd', loc.w2));
    const bedJ2 = await api.created(location('Bed 2-4', 'bd', loc.w2));
    const [j1, j2] = await Promise.all([
      api.create(encounter(p.J, [stay(bedJ1.id, 'active', ago(0.1))])),
      api.create(encounter(p.J, [stay(bedJ2.id, 'active', ago(0.1))])),
    ]);
    expect([j1.status, j2.status].sort()).toEqual([201, 409]);
    const occupied = (await pg.query('SELECT id FROM beds WHERE patient_id = $1', [p.J])).rows;
    expect(occupied).toHaveLength(1);
  });
});

describe('transaction bundles', () => {
  it('allocates a bed created in the same transaction, and refuses a second patient for it in the next', async () => {
    const bedUrl = 'urn:uuid:7f1d3c1e-0000-4000-8000-000000000001';
    const send = (entries: Json[]) =>
      request(t.app.getHttpServer()).post('/fhir').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/fhir+json').send(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }));
    const first = await send([
      { fullUrl: bedUrl, resource: location('Bed 9-1', 'bd', loc.w2), request: { method: 'POST', url: 'Location' } },
      { resource: { ...encounter(p.E, []), location: [{ location: { reference: bedUrl }, status: 'active', period: { start: ago(0.2) } }] }, request: { method: 'POST', url: 'Encounter' } },
    ]);
    expect(first.status).toBe(200);
    const bedId = first.body.entry[0].response.location.split('/')[1];
    expect(await bedRow(bedId)).toMatchObject({ occupied: true, patient_id: p.E });
    const second = await send([{ resource: encounter(p.D, [stay(bedId, 'active', ago(0.1))]), request: { method: 'POST', url: 'Encounter' } }]);
    expect(second.status).toBe(409);
    expectOperationOutcome(second.body);
    expect(outcomeText(second.body)).toContain(`Location/${bedId} is occupied`);
  });
});

describe('occupancy over time', () => {
  // Stays in January 2025 only: every other stay of this file is in the last weeks or open-ended from now.
  const history: Array<[string, string, string, string]> = [
    ['b1', 'A', '2025-01-01T08:00:00Z', '2025-01-03T10:00:00Z'],
    ['b2', 'B', '2025-01-02T12:00:00Z', '2025-01-02T18:00:00Z'],
    ['b2', 'C', '2025-01-04T00:00:00Z', '2025-01-06T00:00:00Z'],
    ['b3', 'D', '2025-01-01T23:00:00Z', '2025-01-05T09:00:00Z'],
    ['f1', 'E', '2025-01-03T09:00:00Z', '2025-01-03T11:00:00Z'],
  ];

  beforeAll(async () => {
    for (const [bed, patient, start, end] of history) {
      await api.created(encounter(p[patient], [stay(loc[bed], 'completed', start, end)], { status: 'finished', period: { start, end } }));
    }
  });

  it('counts occupied beds per day, per ward and in total, as computed independently', async () => {
    const res = expectStatus(await get('/api/beds/occupancy?from=2025-01-01&to=2025-01-07&interval=day'), 200).body;
    const wardOf: Record<string, string> = { b1: loc.w1, b2: loc.w1, b3: loc.w2, f1: loc.w3 };
    const expected: Array<{ occupied: number; wards: Record<string, number> }> = [];
    for (let d = 0; d < 6; d++) {
      const dayStart = Date.parse('2025-01-01T00:00:00Z') + d * DAY;
      const beds = new Set(history.filter(([, , s, e]) => Date.parse(s) < dayStart + DAY && Date.parse(e) > dayStart).map(([bed]) => bed));
      const wards: Record<string, number> = {};
      for (const bed of beds) wards[`Location/${wardOf[bed]}`] = (wards[`Location/${wardOf[bed]}`] ?? 0) + 1;
      expected.push({ occupied: beds.size, wards });
    }
    expect(expected.map((e) => e.occupied)).toEqual([2, 3, 3, 2, 2, 0]); // the fixture itself, spelled out
    expect(res.buckets).toHaveLength(6);
    res.buckets.forEach((bucket: Json, i: number) => {
      expect(bucket.start).toBe(new Date(Date.parse('2025-01-01T00:00:00Z') + i * DAY).toISOString());
      expect(bucket.occupied).toBe(expected[i].occupied);
      for (const w of [loc.w1, loc.w2, loc.w3]) expect(bucket.wards[`Location/${w}`]).toBe(expected[i].wards[`Location/${w}`] ?? 0);
    });
    expect(res.beds.wards[`Location/${loc.w3}`]).toBe(4);
  });

  it('counts per hour too, and refuses bad parameters with an OperationOutcome', async () => {
    const hours = expectStatus(await get('/api/beds/occupancy?from=2025-01-03T08:00:00Z&to=2025-01-03T12:00:00Z&interval=hour'), 200).body;
    // 08-09: b1, b3; 09-10: b1, b3, f1; 10-11: b3, f1 (b1 left at 10:00); 11-12: b3
    expect(hours.buckets.map((b: Json) => b.occupied)).toEqual([2, 3, 2, 1]);
    for (const bad of ['interval=fortnight', 'from=yesterday', 'from=2025-01-02&to=2025-01-01', 'from=2000-01-01&to=2025-01-01&interval=hour']) {
      const res = await get(`/api/beds/occupancy?${bad}`);
      expect([bad, res.status]).toEqual([bad, 400]);
      expectOperationOutcome(res.body);
    }
  });
});

describe('occupancy forecast', () => {
  // Ward 3 (beds f1-f4) gets a weekly pattern over the last four weeks: 1, 2, 3, 4, 3, 2, 1 beds a day.
  const pattern = [1, 2, 3, 4, 3, 2, 1];
  const today = Math.floor(now / DAY) * DAY;

  beforeAll(async () => {
    const perBed: Json[][] = [[], [], [], []];
    for (let d = 28; d >= 1; d--) {
      const dayStart = today - d * DAY;
      const n = pattern[(28 - d) % 7];
      for (let b = 0; b < n; b++) {
        perBed[b].push(stay(loc[`f${b + 1}`], 'completed', new Date(dayStart + 3_600_000).toISOString(), new Date(dayStart + 5 * 3_600_000).toISOString()));
      }
    }
    const patientOf = ['F', 'G', 'H', 'I'];
    for (let b = 0; b < 4; b++) {
      await api.created(encounter(p[patientOf[b]], perBed[b], { status: 'finished', period: { start: perBed[b][0].period.start, end: perBed[b][perBed[b].length - 1].period.end } }));
    }
  });

  it("returns the documented method's numbers for the ward and stores them as occupancy_prediction", async () => {
    const res = expectStatus(await get('/api/beds/forecast?days=7'), 200).body;
    expect(res.method).toMatchObject({ name: 'holt-winters-additive-weekly', seasonLength: 7, alpha: 0.4, beta: 0.1, gamma: 0.3 });
    // The forecast names the active version of the method in the registry (ai_models) and its Device.
    expect(res.method).toMatchObject({ version: '1.0.0', model: 'Device/holt-winters-additive-weekly-1.0.0' });
    const ward = res.wards.find((w: Json) => w.ward === `Location/${loc.w3}`);
    // the daily series computed independently: 28 empty days, then four weeks of the pattern
    const series = [...Array(28).fill(0), ...Array.from({ length: 28 }, (_, i) => pattern[i % 7])];
    expect(ward.history).toEqual(series);
    const expected = forecastOccupancy(series, 7, 4);
    expect(ward.method).toBe('holt-winters-additive-weekly');
    expect(ward.forecast.map((f: Json) => f.occupied)).toEqual(expected.values);
    expect(ward.forecast[0].date).toBe(new Date(today).toISOString().slice(0, 10));
    expect(ward.forecast[0].rate).toBeCloseTo(expected.values[0] / 4, 3);
    // the pattern continues: the forecast follows its weekly shape (highest on the 4th weekday of the cycle)
    const peak = ward.forecast.reduce((best: Json, f: Json) => (f.occupied > best.occupied ? f : best));
    expect(ward.forecast.indexOf(peak)).toBe(3);
    const row = await bedRow(loc.f2);
    expect(row.occupancy_prediction).toMatchObject({ method: 'holt-winters-additive-weekly', ward: `Location/${loc.w3}`, ward_beds: 4 });
    expect(row.occupancy_prediction).toMatchObject({ method_version: '1.0.0', model: 'Device/holt-winters-additive-weekly-1.0.0' });
    expect(row.occupancy_prediction.forecast.map((f: Json) => f.occupied)).toEqual(expected.values);
  });

  it('refuses a bad horizon and patient-context tokens', async () => {
    const bad = await get('/api/beds/forecast?days=0');
    expect(bad.status).toBe(400);
    expectOperationOutcome(bad.body);
    const client = expectStatus(
      await request(t.app.getHttpServer()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).send({ role: 'patient', patient: `Patient/${p.A}` }),
      201,
    ).body;
    const token = (
      await request(t.app.getHttpServer()).post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret })
    ).body.access_token;
    const res = await request(t.app.getHttpServer()).get('/api/beds/occupancy').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(403);
    expectOperationOutcome(res.body);
  });
});

describe('stays that are over: kept, and held to the bed rules', () => {
  // Ward 4 and its beds are used here only; no stay of this block falls in January 2025 (occupancy over time).
  const q: Record<string, string> = {};
  const k: Record<string, string> = {};
  const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const ward4 = async (query: string) => {
    const res = expectStatus(await get(`/api/beds/occupancy?${query}&interval=day`), 200).body;
    return res.buckets.map((b: Json) => b.wards[`Location/${k.w4}`]);
  };

  beforeAll(async () => {
    for (const name of ['K', 'L', 'M', 'N', 'O', 'P']) q[name] = (await api.created({ resourceType: 'Patient', name: [{ family: `Patient${name}` }] })).id;
    k.w4 = (await api.created(location('Ward 4', 'wa'))).id;
    for (const i of [1, 2, 3, 4]) k[`k${i}`] = (await api.created(location(`Bed 4-${i}`, 'bd', k.w4))).id;
  });

  it('keeps the stay of an encounter finished without period.end, ending it at the discharge (not rewritten later)', async () => {
    const admitted = await api.created(encounter(q.K, [stay(k.k1, 'active', ago(3))], { period: { start: ago(3) } }));
    const before = Date.now();
    const discharged = await api.updated({ ...admitted, status: 'finished' });
    const end = discharged.location[0].period.end as string;
    expect(Date.parse(end)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(end)).toBeLessThanOrEqual(Date.now());
    expect(discharged.period).toEqual({ start: ago(3) }); // the Encounter's own period is the client's
    expect(await bedRow(k.k1)).toMatchObject({ occupied: false, patient_id: null });
    // the past stay still counts, every day from admission to discharge
    expect(await ward4(`from=${dayOf(now - 3 * DAY)}&to=${dayOf(now + DAY)}`)).toEqual([1, 1, 1, 1]);
    // written again without an end (a client's copy), the discharge recorded stays where it was
    const again = await api.updated({ ...admitted, status: 'finished', serviceType: { text: 'General ward' } });
    expect(again.location[0].period.end).toBe(end);
  });

  it('reads a date-only period.end as the whole of that day, for occupancy and for the bed rules', async () => {
    await api.created(encounter(q.L, [stay(k.k2, 'completed', '2024-06-10T08:00:00Z', '2024-06-12')], { status: 'finished', period: { start: '2024-06-10T08:00:00Z', end: '2024-06-12' } }));
    expect(await ward4('from=2024-06-10&to=2024-06-14')).toEqual([1, 1, 1, 0]);
    const clash = await api.create(encounter(q.M, [stay(k.k2, 'completed', '2024-06-12T10:00:00Z', '2024-06-12T12:00:00Z')], { status: 'finished' }));
    expect(clash.status).toBe(409);
    expect(outcomeText(clash.body)).toContain(`Location/${k.k2} is occupied`);
    await api.created(encounter(q.M, [stay(k.k2, 'completed', '2024-06-13T00:00:00Z', '2024-06-13T12:00:00Z')], { status: 'finished' }));
  });

  it('takes a same-day turnover given as dates as back to back: out on the 20th, the next patient in on the 20th', async () => {
    await api.created(encounter(q.K, [stay(k.k2, 'completed', '2024-06-18', '2024-06-20')], { status: 'finished', period: { start: '2024-06-18', end: '2024-06-20' } }));
    await api.created(encounter(q.N, [stay(k.k2, 'completed', '2024-06-20', '2024-06-22')], { status: 'finished', period: { start: '2024-06-20', end: '2024-06-22' } }));
    // A time on that day is inside the first stay's day: still an overlap.
    const clash = await api.create(encounter(q.P, [stay(k.k2, 'completed', '2024-06-20T09:00:00Z', '2024-06-20T10:00:00Z')], { status: 'finished' }));
    expect(clash.status).toBe(409);
  });

  it('refuses retrospective stays that overlap (a second patient in a bed, a patient in two beds) with 409, storing nothing', async () => {
    await api.created(encounter(q.N, [stay(k.k3, 'completed', '2024-07-01T00:00:00Z', '2024-07-05T00:00:00Z')], { status: 'finished' }));
    const secondPatient = await api.create(encounter(q.O, [stay(k.k3, 'completed', '2024-07-03T00:00:00Z', '2024-07-04T00:00:00Z')], { status: 'finished' }));
    expect(secondPatient.status).toBe(409);
    expectOperationOutcome(secondPatient.body);
    expect(outcomeText(secondPatient.body)).toContain(`Location/${k.k3} is occupied`);
    // finished encounter with an active location: still a stay in the bed
    const finishedActive = await api.create(encounter(q.O, [stay(k.k3, 'active', '2024-07-02T00:00:00Z', '2024-07-03T00:00:00Z')], { status: 'finished' }));
    expect(finishedActive.status).toBe(409);
    const twoBeds = await api.create(encounter(q.N, [stay(k.k4, 'completed', '2024-07-02T00:00:00Z', '2024-07-03T00:00:00Z')], { status: 'finished' }));
    expect(twoBeds.status).toBe(409);
    expect(outcomeText(twoBeds.body)).toContain(`Patient/${q.N} already has a bed: Location/${k.k3}`);
    expect(await encountersOf(q.O)).toEqual([]);
    expect(await ward4('from=2024-07-01&to=2024-07-06')).toEqual([1, 1, 1, 1, 0]);
    // back to back is fine
    await api.created(encounter(q.O, [stay(k.k3, 'completed', '2024-07-05T00:00:00Z', '2024-07-06T00:00:00Z')], { status: 'finished' }));
  });

  it('refuses a past stay recorded in a bed someone holds now, and a current admission over a recorded stay', async () => {
    const current = await api.created(encounter(q.P, [stay(k.k4, 'active', ago(1))]));
    const retro = await api.create(encounter(q.O, [stay(k.k4, 'completed', ago(0.5), ago(0.25))], { status: 'finished' }));
    expect(retro.status).toBe(409);
    expect(outcomeText(retro.body)).toContain(`Encounter/${current.id}`);
    const over = await api.create(encounter(q.O, [stay(k.k3, 'active', '2024-07-05T12:00:00Z')]));
    expect(over.status).toBe(409);
    expect(outcomeText(over.body)).toContain(`Location/${k.k3} is occupied`);
  });
});
