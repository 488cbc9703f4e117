import request from 'supertest';
import type { Client } from 'pg';
import { FhirApi, expectOperationOutcome, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { fhirKitClient, type FhirKitClient } from '../helpers/fhir-kit';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';

/**
 * Scheduling (issue #9): no double-booked doctor or resource, the nearest free slot of the doctor's
 * Schedule proposed in the 409 or booked instead on request, Slots busy while an appointment holds
 * them, and exactly one winner when two clients book the same doctor at once.
 */

const CONFLICT_RESOLUTION = 'https://fhir-ai-server.dev/StructureDefinition/appointment-conflict-resolution';
const RESCHEDULED_FROM = 'https://fhir-ai-server.dev/StructureDefinition/appointment-rescheduled-from';
const PROPOSED_SLOT = 'https://fhir-ai-server.dev/StructureDefinition/proposed-slot';
const DAY = '2030-03-04';
const at = (hhmm: string) => `${DAY}T${hhmm}:00Z`;
const iso = (hhmm: string) => new Date(at(hhmm)).toISOString();

let t: TestApp;
let api: FhirApi;
let kit: FhirKitClient;
let pg: Client;
const patients: string[] = [];
let doctor: string;
let doctor2: string;
let room: string;
let schedule: string;
const slots: Record<string, string> = {};

function appointment(patient: string, actors: string[], start: string, end: string, extra: Json = {}): Json & { resourceType: string } {
  return {
    resourceType: 'Appointment',
    status: 'booked',
    start: at(start),
    end: at(end),
    participant: [{ actor: { reference: `Patient/${patient}` }, status: 'accepted' }, ...actors.map((reference) => ({ actor: { reference }, status: 'accepted' }))],
    ...extra,
  };
}

async function slotStatus(key: string): Promise<string> {
  return expectStatus(await api.read('Slot', slots[key]), 200).body.status;
}

async function appointmentRows(patient: string): Promise<Json[]> {
  return (await pg.query('SELECT id, doctor_id, date_time, status, ai_conflict_resolved, start_at, end_at, actors FROM appointments WHERE patient_id = $1 ORDER BY start_at', [patient])).rows;
}

async function appointmentsOf(patient: string): Promise<Json[]> {
  const bundle = expectStatus(await api.search('Appointment', { patient: `Patient/${patient}` }), 200).body;
  return (bundle.entry ?? []).map((e: Json) => e.resource);
}

beforeAll(async () => {
  t = await startTestApp();
  api = new FhirApi(t);
  kit = fhirKitClient(t.baseUrl, t.token);
  pg = await rawClient(t.db.url);
  for (const family of ['One', 'Two', 'Three', 'Four', 'Five', 'Six']) {
    patients.push((await api.created({ resourceType: 'Patient', name: [{ family, given: ['Pat'] }] })).id);
  }
  doctor = `Practitioner/${(await api.created({ resourceType: 'Practitioner', name: [{ family: 'House' }] })).id}`;
  doctor2 = `Practitioner/${(await api.created({ resourceType: 'Practitioner', name: [{ family: 'Wilson' }] })).id}`;
  room = `Location/${(await api.created({ resourceType: 'Location', name: 'Consulting room 1', status: 'active' })).id}`;
  schedule = (await api.created({ resourceType: 'Schedule', active: true, actor: [{ reference: doctor }], planningHorizon: { start: at('08:00'), end: at('18:00') } })).id;
  const times: Array<[string, string, string]> = [
    ['s0900', '09:00', '09:30'],
    ['s0930', '09:30', '10:00'],
    ['s1000', '10:00', '10:30'],
    ['s1030', '10:30', '11:00'],
    ['s1400', '14:00', '14:30'],
    ['s1430', '14:30', '15:00'],
    ['s1500', '15:00', '15:30'],
  ];
  for (const [key, start, end] of times) {
    slots[key] = (await api.created({ resourceType: 'Slot', schedule: { reference: `Schedule/${schedule}` }, status: 'free', start: at(start), end: at(end) })).id;
  }
});

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

describe('Schedule and Slot', () => {
  it('are readable and searchable like every type', async () => {
    const s = expectStatus(await api.read('Schedule', schedule), 200).body;
    expect(s.actor).toEqual([{ reference: doctor }]);
    const byActor = expectStatus(await api.search('Schedule', { actor: doctor }), 200).body;
    expect(byActor.entry.map((e: Json) => e.resource.id)).toEqual([schedule]);
    const free = expectStatus(await api.search('Slot', { schedule: `Schedule/${schedule}`, status: 'free', start: `ge${at('10:00')}`, _sort: 'start' }), 200).body;
    expect(free.entry.map((e: Json) => e.resource.id)).toEqual([slots.s1000, slots.s1030, slots.s1400, slots.s1430, slots.s1500]);
  });
});

describe('booking', () => {
  it('books an appointment on a slot, marks the slot busy and projects the row', async () => {
    const created = await api.created(appointment(patients[0], [doctor, room], '09:00', '09:30', { slot: [{ reference: `Slot/${slots.s0900}` }] }));
    expect(created.start).toBe(at('09:00'));
    expect(await slotStatus('s0900')).toBe('busy');
    const [row] = await appointmentRows(patients[0]);
    expect(row).toMatchObject({ id: created.id, doctor_id: doctor.split('/')[1], status: 'booked', ai_conflict_resolved: false, actors: [doctor, room].sort() });
    expect(new Date(row.start_at).toISOString()).toBe(iso('09:00'));
    expect(new Date(row.end_at).toISOString()).toBe(iso('09:30'));
  });

  it('accepts a back-to-back appointment with the same doctor', async () => {
    const created = await api.created(appointment(patients[1], [doctor], '09:30', '10:00'));
    expect(created.end).toBe(at('10:00'));
  });

  it('refuses a double-booking of the doctor with a 409 proposing the nearest free slot, and stores nothing', async () => {
    const res = await api.create(appointment(patients[2], [doctor], '09:15', '09:45'));
    expect(res.status).toBe(409);
    expectOperationOutcome(res.body);
    const text = outcomeText(res.body);
    expect(text).toMatch(new RegExp(`${doctor} is already booked`));
    // both appointments in the way are named
    expect(res.body.issue.filter((i: Json) => i.severity === 'error')).toHaveLength(2);
    // 09:00 and 09:30 are taken; 10:00 (45 min away) is nearer than 10:30 or 14:00
    const info = res.body.issue.find((i: Json) => i.severity === 'information');
    const proposal = info.extension.find((e: Json) => e.url === PROPOSED_SLOT).extension;
    expect(proposal).toEqual([
      { url: 'start', valueDateTime: iso('10:00') },
      { url: 'end', valueDateTime: iso('10:30') },
      { url: 'slot', valueReference: { reference: `Slot/${slots.s1000}` } },
    ]);
    expect(await appointmentsOf(patients[2])).toEqual([]);
    expect(await appointmentRows(patients[2])).toEqual([]);
    expect(await slotStatus('s1000')).toBe('free');
  });

  it('refuses a double-booking of a resource (the room), saying when no slot can be proposed', async () => {
    const res = await api.create(appointment(patients[2], [doctor2, room], '09:10', '09:20'));
    expect(res.status).toBe(409);
    const text = outcomeText(res.body);
    expect(text).toContain(`${room} is already booked`);
    expect(text).toContain('No free slot');
    expect(await appointmentsOf(patients[2])).toEqual([]);
  });

  it('does not count cancelled, no-show or entered-in-error appointments, nor a participant who declined', async () => {
    for (const status of ['cancelled', 'noshow', 'entered-in-error']) {
      await api.created(appointment(patients[3], [doctor], '09:00', '09:30', { status }));
    }
    const declined = appointment(patients[3], [], '09:00', '09:30');
    declined.participant.push({ actor: { reference: doctor }, status: 'declined' });
    await api.created(declined);
  });

  it('moves a conflicting appointment to the nearest free slot through POST /api/scheduling/book', async () => {
    const res = await request(t.app.getHttpServer())
      .post('/api/scheduling/book')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(appointment(patients[2], [doctor], '09:15', '09:45')));
    expect(res.status).toBe(201);
    const moved = JSON.parse(res.text);
    expect(res.headers.location).toMatch(new RegExp(`/fhir/Appointment/${moved.id}/_history/1$`));
    expect([moved.start, moved.end]).toEqual([iso('10:00'), iso('10:30')]);
    expect(moved.slot).toEqual([{ reference: `Slot/${slots.s1000}` }]);
    expect(moved.extension).toEqual(
      expect.arrayContaining([{ url: RESCHEDULED_FROM, valuePeriod: { start: at('09:15'), end: at('09:45') } }, { url: CONFLICT_RESOLUTION, valueCode: 'nearest-slot' }]),
    );
    expect(moved.comment).toContain(`Moved by the server from ${at('09:15')} to the nearest free slot ${iso('10:00')}`);
    expect(await slotStatus('s1000')).toBe('busy');
    const [row] = await appointmentRows(patients[2]);
    expect(row).toMatchObject({ id: moved.id, ai_conflict_resolved: true });
    expect(new Date(row.date_time + 'Z').toISOString()).toBe(iso('10:00'));
    // stored as answered
    expect(expectStatus(await api.read('Appointment', moved.id), 200).body.start).toBe(iso('10:00'));
  });

  it('never proposes or moves to a slot that has already begun, however near', async () => {
    const doc = `Practitioner/${(await api.created({ resourceType: 'Practitioner', name: [{ family: 'Foreman' }] })).id}`;
    const own = (await api.created({ resourceType: 'Schedule', active: true, actor: [{ reference: doc }] })).id;
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const slotOn = async (offset: number) =>
      (await api.created({ resourceType: 'Slot', schedule: { reference: `Schedule/${own}` }, status: 'free', start: `${day(offset)}T09:00:00Z`, end: `${day(offset)}T09:30:00Z` })).id;
    await slotOn(-1);
    const taken = await slotOn(1);
    const later = await slotOn(5);
    const visit = (patient: string): Json => ({
      ...appointment(patient, [doc], '09:00', '09:30'),
      start: `${day(1)}T09:00:00Z`,
      end: `${day(1)}T09:30:00Z`,
    });
    await api.created({ ...visit(patients[0]), slot: [{ reference: `Slot/${taken}` }] });
    const refused = await api.create(visit(patients[1]));
    expect(refused.status).toBe(409);
    expect(outcomeText(refused.body)).toContain(`Slot/${later}`);
    const res = await request(t.app.getHttpServer())
      .post('/api/scheduling/book')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(visit(patients[1])));
    expect(res.status).toBe(201);
    expect(JSON.parse(res.text).slot).toEqual([{ reference: `Slot/${later}` }]);
  });

  it('refuses what /api/scheduling/book cannot book: not an Appointment, or no free slot to move to', async () => {
    const book = (body: Json) =>
      request(t.app.getHttpServer()).post('/api/scheduling/book').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
    const notAppointment = await book({ resourceType: 'Patient' });
    expect(notAppointment.status).toBe(400);
    expectOperationOutcome(notAppointment.body);
    const invalid = await book({ resourceType: 'Appointment', status: 'booked' });
    expect(invalid.status).toBe(400);
    expectOperationOutcome(invalid.body);
    // the room is taken at 09:10 and neither Wilson nor the room has a schedule
    const noSlot = await book(appointment(patients[3], [doctor2, room], '09:10', '09:20'));
    expect(noSlot.status).toBe(409);
    expect(outcomeText(noSlot.body)).toContain('No free slot');
    expect((await appointmentsOf(patients[3])).filter((a) => a.start === at('09:10'))).toEqual([]);
  });

  it('moves through plain FHIR too, when the Appointment carries the extension (fhir-kit-client)', async () => {
    const moved = (await kit.create({
      resourceType: 'Appointment',
      body: appointment(patients[4], [doctor], '09:15', '09:45', { extension: [{ url: CONFLICT_RESOLUTION, valueCode: 'nearest-slot' }] }),
    })) as Json;
    // 10:00 is now taken as well: 10:30 is the nearest
    expect([moved.start, moved.end]).toEqual([iso('10:30'), iso('11:00')]);
    expect(await slotStatus('s1030')).toBe('busy');
    expect((await appointmentRows(patients[4]))[0].ai_conflict_resolved).toBe(true);
  });

  it('answers fhir-kit-client a 409 OperationOutcome for a plain double-booking', async () => {
    let error: { response?: { status: number; data: Json } } | undefined;
    try {
      await kit.create({ resourceType: 'Appointment', body: appointment(patients[4], [doctor], '10:00', '10:15') });
    } catch (e) {
      error = e as typeof error;
    }
    expect(error?.response?.status).toBe(409);
    expect(error?.response?.data.resourceType).toBe('OperationOutcome');
    expect(error?.response?.data.issue[0].code).toBe('conflict');
  });

  it('frees the slot when the appointment is cancelled, and the time can then be booked again', async () => {
    const [first] = await appointmentsOf(patients[0]);
    await api.updated({ ...first, status: 'cancelled' });
    expect(await slotStatus('s0900')).toBe('free');
    const again = await api.created(appointment(patients[5], [doctor, room], '09:00', '09:30', { slot: [{ reference: `Slot/${slots.s0900}` }] }));
    expect(again.start).toBe(at('09:00'));
    expect(await slotStatus('s0900')).toBe('busy');
  });

  it('frees the slot when the appointment is deleted', async () => {
    const held = await api.created(appointment(patients[5], [doctor], '15:00', '15:30', { slot: [{ reference: `Slot/${slots.s1500}` }] }));
    expect(await slotStatus('s1500')).toBe('busy');
    expectStatus(await api.delete('Appointment', held.id), 200);
    expect(await slotStatus('s1500')).toBe('free');
  });

  it('refuses to book a Slot that is busy-unavailable or entered-in-error (409), storing nothing, but keeps one already held', async () => {
    const doctor3 = `Practitioner/${(await api.created({ resourceType: 'Practitioner', name: [{ family: 'Cuddy' }] })).id}`;
    const own = (await api.created({ resourceType: 'Schedule', active: true, actor: [{ reference: doctor3 }] })).id;
    const slot = async (status: string, start: string, end: string) =>
      (await api.created({ resourceType: 'Slot', schedule: { reference: `Schedule/${own}` }, status, start: at(start), end: at(end) })).id;
    const closed = await slot('busy-unavailable', '16:00', '16:30');
    const wrong = await slot('entered-in-error', '16:30', '17:00');
    for (const [id, start, end] of [[closed, '16:00', '16:30'], [wrong, '16:30', '17:00']]) {
      const res = await api.create(appointment(patients[4], [doctor3], start, end, { slot: [{ reference: `Slot/${id}` }] }));
      expect(res.status).toBe(409);
      expectOperationOutcome(res.body);
      expect(outcomeText(res.body)).toContain(`Slot/${id}`);
    }
    expect((await appointmentsOf(patients[4])).filter((a) => a.start >= at('16:00'))).toEqual([]);
    // a slot closed after it was booked does not stop the appointment being updated
    const open = await slot('free', '17:00', '17:30');
    const booked = await api.created(appointment(patients[4], [doctor3], '17:00', '17:30', { slot: [{ reference: `Slot/${open}` }] }));
    const s = expectStatus(await api.read('Slot', open), 200).body;
    await api.updated({ ...s, status: 'busy-unavailable' });
    expect((await api.updated({ ...booked, comment: 'bring the scans' })).comment).toBe('bring the scans');
  });

  it('checks an update against the others but not against itself', async () => {
    const [mine] = await appointmentsOf(patients[1]); // 09:30-10:00
    const later = await api.updated({ ...mine, start: at('09:40'), end: at('10:00') });
    expect(later.start).toBe(at('09:40'));
    const clash = await api.update({ ...later, start: at('09:20'), end: at('09:50') });
    expect(clash.status).toBe(409);
    expect(outcomeText(clash.body)).toContain('Appointment/');
    expect(expectStatus(await api.read('Appointment', mine.id), 200).body.start).toBe(at('09:40'));
  });
});

describe('transaction bundles', () => {
  function post(entries: Json[]): request.Test {
    return request(t.app.getHttpServer())
      .post('/fhir')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries.map((resource) => ({ resource, request: { method: 'POST', url: resource.resourceType } })) }));
  }

  it('sees earlier entries of the same transaction: two overlapping appointments refuse the whole bundle', async () => {
    const res = await post([appointment(patients[3], [doctor2], '16:00', '16:30'), appointment(patients[4], [doctor2], '16:15', '16:45')]);
    expect(res.status).toBe(409);
    expectOperationOutcome(res.body);
    expect(outcomeText(res.body)).toContain(`${doctor2} is already booked`);
    const stored = (await pg.query('SELECT id FROM appointments WHERE $1 = ANY (actors)', [doctor2])).rows;
    expect(stored).toEqual([]);
    // back to back in one transaction is fine
    const ok = await post([appointment(patients[3], [doctor2], '16:00', '16:30'), appointment(patients[4], [doctor2], '16:30', '17:00')]);
    expect(ok.status).toBe(200);
    expect(ok.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '201 Created']);
  });
});

describe('concurrency', () => {
  it('lets exactly one of two simultaneous bookings of the same doctor win', async () => {
    const windows: Array<[string, string]> = [
      ['14:00', '14:30'],
      ['14:30', '15:00'],
      ['15:00', '15:30'],
    ];
    for (const [start, end] of windows) {
      const [a, b] = await Promise.all([api.create(appointment(patients[0], [doctor], start, end)), api.create(appointment(patients[1], [doctor], start, end))]);
      expect([a.status, b.status].sort()).toEqual([201, 409]);
      const loser = a.status === 409 ? a : b;
      expectOperationOutcome(loser.body);
      const rows = (await pg.query('SELECT id FROM appointments WHERE $1 = ANY (actors) AND start_at = $2 AND status = $3', [doctor, iso(start), 'booked'])).rows;
      expect(rows).toHaveLength(1);
    }
  });
});
