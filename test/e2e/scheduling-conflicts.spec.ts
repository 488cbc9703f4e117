import request from 'supertest';
import type { Client } from 'pg';
import { FhirApi, expectOperationOutcome, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';

/**
 * Scheduling (issue #9), what an outside tester found past the first suite (scheduling.spec.ts):
 * appointments without a local Patient book their actors too, a doctor is the same person through
 * Practitioner and PractitionerRole references, an appointment's times must be valid (R4 app-2,
 * app-3, end after start), a Slot holds one active appointment and the appointment must lie within
 * it, and a waitlisted appointment neither blocks nor is blocked.
 */

const PROPOSED_SLOT = 'https://fhir-ai-server.dev/StructureDefinition/proposed-slot';
const DAY = '2030-05-06';
const at = (hhmm: string) => `${DAY}T${hhmm}:00Z`;
const iso = (hhmm: string) => new Date(at(hhmm)).toISOString();

let t: TestApp;
let api: FhirApi;
let pg: Client;
const patients: string[] = [];
let dr1: string;
let dr2: string;
let dr3: string;
let role1: string;
let role1b: string;
let room: string;
let group: string;
const slots: Record<string, string> = {};

function appointment(patient: string | undefined, actors: string[], start: string, end: string, extra: Json = {}): Json {
  return {
    resourceType: 'Appointment',
    status: 'booked',
    start: at(start),
    end: at(end),
    participant: [...(patient ? [`Patient/${patient}`] : []), ...actors].map((reference) => ({ actor: { reference }, status: 'accepted' })),
    ...extra,
  };
}

/** Every trace an Appointment write leaves: versions in both stores and booking rows. */
async function appointmentTraces(): Promise<number> {
  const { rows } = await pg.query(
    `SELECT (SELECT count(*) FROM fhir_resource_history WHERE resource_type = 'Appointment')
          + (SELECT count(*) FROM fhir_patient_resource_history WHERE resource_type = 'Appointment')
          + (SELECT count(*) FROM appointment_bookings) AS n`,
  );
  return Number(rows[0].n);
}

/** Creating it is refused with `status` and an OperationOutcome, and nothing is stored. */
async function refused(resource: Json, status: number): Promise<string> {
  const before = await appointmentTraces();
  const res = await api.create(resource);
  expect(res.status).toBe(status);
  expectOperationOutcome(res.body);
  expect(await appointmentTraces()).toBe(before);
  return outcomeText(res.body);
}

async function slotStatus(key: string): Promise<string> {
  return expectStatus(await api.read('Slot', slots[key]), 200).body.status;
}

beforeAll(async () => {
  t = await startTestApp();
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  for (const family of ['One', 'Two', 'Three', 'Four']) patients.push((await api.created({ resourceType: 'Patient', name: [{ family, given: ['Pat'] }] })).id);
  const practitioner = async (family: string) => `Practitioner/${(await api.created({ resourceType: 'Practitioner', name: [{ family }] })).id}`;
  dr1 = await practitioner('Grey');
  dr2 = await practitioner('Yang');
  dr3 = await practitioner('Bailey');
  const role = async (practitionerRef: string) => `PractitionerRole/${(await api.created({ resourceType: 'PractitionerRole', active: true, practitioner: { reference: practitionerRef } })).id}`;
  role1 = await role(dr1);
  role1b = await role(dr1);
  await role(dr2);
  room = `Location/${(await api.created({ resourceType: 'Location', name: 'Meeting room', status: 'active' })).id}`;
  group = `Group/${(await api.created({ resourceType: 'Group', type: 'person', actual: true, name: 'Ward team' })).id}`;
  const schedule = (await api.created({ resourceType: 'Schedule', active: true, actor: [{ reference: dr1 }] })).id;
  for (const [key, start, end] of [
    ['s1300', '13:00', '13:30'],
    ['s1330', '13:30', '14:00'],
    ['s1500', '15:00', '15:30'],
    ['s1530', '15:30', '16:00'],
    ['s1700', '17:00', '17:30'],
  ]) {
    slots[key] = (await api.created({ resourceType: 'Slot', schedule: { reference: `Schedule/${schedule}` }, status: 'free', start: at(start), end: at(end) })).id;
  }
});

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

describe('appointments without a local Patient book their actors too', () => {
  let meeting: Json;

  it('a staff meeting of two doctors blocks a patient appointment with either', async () => {
    meeting = await api.created(appointment(undefined, [dr1, dr2], '09:00', '10:00'));
    const rows = (await pg.query('SELECT id, actors, status FROM appointments_without_patient')).rows;
    expect(rows).toEqual([{ id: meeting.id, actors: [dr1, dr2].sort(), status: 'booked' }]);
    const text = await refused(appointment(patients[0], [dr1], '09:30', '10:00'), 409);
    expect(text).toContain(`${dr1} is already booked from ${iso('09:00')} to ${iso('10:00')} by Appointment/${meeting.id}`);
    // and the other way round: a patient's appointment blocks a meeting
    await api.created(appointment(patients[0], [dr3], '10:00', '10:30'));
    expect(await refused(appointment(undefined, [dr3, dr2], '10:15', '10:45'), 409)).toContain(`${dr3} is already booked`);
  });

  it('so do appointments for an external patient or for a Group', async () => {
    const external = appointment(undefined, [room], '11:00', '11:30');
    external.participant.unshift({ actor: { reference: 'https://other-ehr.example/fhir/Patient/77' }, status: 'accepted' });
    const ext = await api.created(external);
    expect(await refused(appointment(patients[1], [room], '11:15', '11:45'), 409)).toContain(`by Appointment/${ext.id}`);
    const team = await api.created(appointment(undefined, [group, dr2], '12:00', '12:30'));
    expect(await refused(appointment(patients[1], [dr2], '12:00', '12:30'), 409)).toContain(`by Appointment/${team.id}`);
  });

  it('shows in the availability API', async () => {
    const res = await request(t.app.getHttpServer())
      .get(`/api/resources/availability?from=${encodeURIComponent(at('09:15'))}&to=${encodeURIComponent(at('09:45'))}&type=staff`)
      .set('Authorization', `Bearer ${t.token}`);
    const staff = new Map<string, Json>((expectStatus(res, 200).body.resources as Json[]).map((r) => [r.resource, r]));
    expect(staff.get(dr1)).toMatchObject({ available: false, bookings: [`Appointment/${meeting.id}`] });
    expect(staff.get(dr2)).toMatchObject({ available: false, bookings: [`Appointment/${meeting.id}`] });
  });

  it('lets go of the time once cancelled', async () => {
    await api.updated({ ...meeting, status: 'cancelled' });
    await api.created(appointment(patients[0], [dr1], '09:30', '10:00'));
  });
});

describe('a doctor booked through a PractitionerRole is the same doctor', () => {
  it('refuses Practitioner after PractitionerRole, PractitionerRole after Practitioner, and another role of the same doctor', async () => {
    const viaRole = await api.created(appointment(patients[2], [role1], '13:00', '13:30'));
    const text = await refused(appointment(patients[3], [dr1], '13:15', '13:45'), 409);
    expect(text).toContain(`${role1} is already booked from ${iso('13:00')} to ${iso('13:30')} by Appointment/${viaRole.id}`);
    expect(await refused(appointment(patients[3], [role1b], '13:00', '13:30'), 409)).toContain(`by Appointment/${viaRole.id}`);
    const direct = await api.created(appointment(patients[2], [dr1], '14:00', '14:30'));
    expect(await refused(appointment(patients[3], [role1], '14:15', '14:45'), 409)).toContain(`${dr1} is already booked from ${iso('14:00')} to ${iso('14:30')} by Appointment/${direct.id}`);
  });

  it("proposes the nearest free slot of the role's practitioner", async () => {
    const res = await api.create(appointment(patients[3], [role1b], '14:00', '14:30'));
    expect(res.status).toBe(409);
    const info = res.body.issue.find((i: Json) => i.severity === 'information');
    // 13:00 is held by the role's appointment, 13:30 is free
    expect(info.extension.find((e: Json) => e.url === PROPOSED_SLOT).extension).toEqual([
      { url: 'start', valueDateTime: iso('13:30') },
      { url: 'end', valueDateTime: iso('14:00') },
      { url: 'slot', valueReference: { reference: `Slot/${slots.s1330}` } },
    ]);
  });

  it('lets exactly one of two simultaneous bookings win, one through the role and one direct', async () => {
    const [a, b] = await Promise.all([api.create(appointment(patients[2], [role1], '18:00', '18:30')), api.create(appointment(patients[3], [dr1], '18:00', '18:30'))]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
  });
});

describe("an appointment's times", () => {
  it('refuses an end before or at the start, with a 400 OperationOutcome, storing nothing', async () => {
    expect(await refused(appointment(patients[0], [dr2], '20:00', '19:00'), 400)).toMatch(/must be after Appointment.start/);
    expect(await refused(appointment(patients[0], [dr2], '20:00', '20:00'), 400)).toMatch(/must be after Appointment.start/);
    // without a patient or a bookable actor too
    expect(await refused(appointment(undefined, [group], '20:00', '19:00'), 400)).toMatch(/must be after/);
  });

  it('refuses start without end, end without start, and a booked appointment with neither (app-2, app-3: the validator)', async () => {
    const base = appointment(patients[0], [dr2], '20:00', '20:30');
    expect(await refused({ ...base, end: undefined, minutesDuration: 30 }, 400)).toMatch(/app-2/);
    expect(await refused({ ...base, start: undefined }, 400)).toMatch(/app-2/);
    expect(await refused({ ...base, start: undefined, end: undefined }, 400)).toMatch(/app-3/);
    // a proposed appointment with no time yet is fine
    await api.created({ ...base, status: 'proposed', start: undefined, end: undefined });
  });

  it('refuses an update that turns the period round, keeping the stored version', async () => {
    const stored = await api.created(appointment(patients[1], [dr2], '21:00', '21:30'));
    const res = await api.update({ ...stored, end: at('20:00') });
    expect(res.status).toBe(400);
    expectOperationOutcome(res.body);
    expect(expectStatus(await api.read('Appointment', stored.id), 200).body.meta.versionId).toBe(stored.meta.versionId);
  });
});

describe('slots', () => {
  let holder: Json;

  it('refuses a slot held by another active appointment (409), even with no shared participant', async () => {
    holder = await api.created(appointment(patients[0], [dr1], '15:00', '15:30', { slot: [{ reference: `Slot/${slots.s1500}` }] }));
    expect(await slotStatus('s1500')).toBe('busy');
    const text = await refused(appointment(patients[1], [dr3], '15:00', '15:30', { slot: [{ reference: `Slot/${slots.s1500}` }] }), 409);
    expect(text).toContain(`Slot/${slots.s1500} is already booked from ${iso('15:00')} to ${iso('15:30')} by Appointment/${holder.id}`);
    // a part of the slot is no better
    await refused(appointment(patients[1], [], '15:10', '15:20', { slot: [{ reference: `Slot/${slots.s1500}` }] }), 409);
  });

  it('refuses times outside the referenced slot (422), storing nothing and leaving the slot free', async () => {
    const slot = { slot: [{ reference: `Slot/${slots.s1700}` }] };
    expect(await refused(appointment(patients[1], [dr1], '17:00', '18:00', slot), 422)).toContain(`must lie within its slots (Slot/${slots.s1700}`);
    await refused(appointment(patients[1], [dr1], '16:50', '17:20', slot), 422);
    await refused(appointment(patients[1], [dr1], '17:00', '17:30', { slot: [...slot.slot, { reference: `Slot/${slots.s1300}` }] }), 422);
    expect(await slotStatus('s1700')).toBe('free');
    // within it, or across back-to-back slots, is fine
    await api.created(appointment(patients[1], [dr1], '15:30', '16:00', { slot: [{ reference: `Slot/${slots.s1530}` }] }));
    await api.created(appointment(patients[1], [dr1], '17:05', '17:25', slot));
  });
});

describe('waitlist', () => {
  it('neither blocks nor is blocked, and is checked once booked', async () => {
    const booked = await api.created(appointment(patients[2], [dr2], '16:00', '16:30'));
    const waiting = await api.created(appointment(patients[3], [dr2], '16:00', '16:30', { status: 'waitlist', slot: [{ reference: `Slot/${slots.s1500}` }] }));
    // the slot stays the holder's, and the waitlisted appointment holds nothing
    expect(await slotStatus('s1500')).toBe('busy');
    await api.created(appointment(patients[0], [dr2], '16:30', '17:00'));
    const res = await api.update({ ...waiting, status: 'booked', slot: undefined });
    expect(res.status).toBe(409);
    expect(outcomeText(res.body)).toContain(`by Appointment/${booked.id}`);
    expect(res.body.issue.filter((i: Json) => i.severity === 'error')).toHaveLength(1);
    // pending still blocks
    await api.created(appointment(patients[0], [dr3], '19:00', '19:30', { status: 'pending' }));
    await refused(appointment(patients[1], [dr3], '19:00', '19:30'), 409);
  });
});
