import type { Appointment, Extension } from '@medplum/fhirtypes';

/**
 * Statuses whose appointment holds nobody's time (the issue: these "do not count"), and `waitlist`:
 * in R4 a waitlisted appointment is waiting for a slot to become available, so it neither blocks
 * others nor is refused for a time already taken (it is checked when it becomes booked).
 */
export const INACTIVE_APPOINTMENT_STATUSES: readonly string[] = ['cancelled', 'noshow', 'entered-in-error', 'waitlist'];

/** Participant types that can be double-booked: the doctor and the resources (rooms, devices, services). */
export const BOOKABLE_ACTOR_TYPES: readonly string[] = ['Practitioner', 'PractitionerRole', 'Location', 'Device', 'HealthcareService'];

/**
 * Asks the server to move a conflicting appointment to the nearest free slot instead of refusing it
 * (valueCode `nearest-slot`; `refuse` or absent: refuse with a proposal).
 */
export const CONFLICT_RESOLUTION_URL = 'https://fhir-ai-server.dev/StructureDefinition/appointment-conflict-resolution';
/** Set by the server on an appointment it moved: valuePeriod is the time originally asked for. */
export const RESCHEDULED_FROM_URL = 'https://fhir-ai-server.dev/StructureDefinition/appointment-rescheduled-from';
/** On the information issue of a refusal: the proposed slot (sub-extensions start, end, slot). */
export const PROPOSED_SLOT_URL = 'https://fhir-ai-server.dev/StructureDefinition/proposed-slot';

const LOCAL_REF = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** `Type/id` of a local reference (version dropped), or undefined. */
export function localReference(reference: string | undefined): { type: string; id: string; ref: string } | undefined {
  const m = reference ? LOCAL_REF.exec(reference) : null;
  return m ? { type: m[1], id: m[2], ref: `${m[1]}/${m[2]}` } : undefined;
}

/** Whether the appointment holds its participants' time. */
export function isActiveAppointment(a: Appointment): boolean {
  return !INACTIVE_APPOINTMENT_STATUSES.includes(a.status);
}

/** The actors the appointment books (`Type/id`, sorted, unique): bookable local participants that did not decline. */
export function bookedActors(a: Appointment): string[] {
  const refs = new Set<string>();
  for (const p of a.participant ?? []) {
    if (p.status === 'declined') continue;
    const r = localReference(p.actor?.reference);
    if (r && BOOKABLE_ACTOR_TYPES.includes(r.type)) refs.add(r.ref);
  }
  return [...refs].sort();
}

/** The local Patient the appointment is for (its first Patient participant). */
export function appointmentPatient(a: Appointment): string | undefined {
  for (const p of a.participant ?? []) {
    const r = localReference(p.actor?.reference);
    if (r?.type === 'Patient') return r.id;
  }
  return undefined;
}

/** [start, end) in epoch ms: start and end, or start + minutesDuration; undefined when not both known. */
export function appointmentPeriod(a: Appointment): { start: number; end: number } | undefined {
  const start = a.start ? Date.parse(a.start) : NaN;
  let end = a.end ? Date.parse(a.end) : NaN;
  if (Number.isNaN(end) && !Number.isNaN(start) && a.minutesDuration) end = start + a.minutesDuration * 60_000;
  if (Number.isNaN(start) || Number.isNaN(end) || end <= start) return undefined;
  return { start, end };
}

/**
 * Why the appointment's period is invalid, or undefined: its end must come after its start (R4's
 * app-2 and app-3, start and end both or neither, are checked by the validator before any rule).
 */
export function invalidPeriod(a: Appointment): string | undefined {
  if (a.start && a.end && !(Date.parse(a.end) > Date.parse(a.start))) return `Appointment.end (${a.end}) must be after Appointment.start (${a.start})`;
  return undefined;
}

/** Whether the client asked for a conflict to be moved to the nearest free slot. */
export function wantsNearestSlot(a: Appointment): boolean {
  return (a.extension ?? []).some((e) => e.url === CONFLICT_RESOLUTION_URL && e.valueCode === 'nearest-slot');
}

/** Whether the server moved this appointment to resolve a conflict (→ appointments.ai_conflict_resolved). */
export function wasRescheduled(a: Appointment): boolean {
  return (a.extension ?? []).some((e) => e.url === RESCHEDULED_FROM_URL);
}

/** The appointment moved to [start, end) on the given slots, saying where it was asked for and why. */
export function moveAppointment(a: Appointment, to: { start: number; end: number; slotIds: string[] }, reason: string): Appointment {
  const original: Extension = { url: RESCHEDULED_FROM_URL, valuePeriod: { start: a.start, end: a.end ?? new Date(appointmentPeriod(a)!.end).toISOString() } };
  const start = new Date(to.start).toISOString();
  const end = new Date(to.end).toISOString();
  const note = `Moved by the server from ${original.valuePeriod!.start} to the nearest free slot ${start}: ${reason}`;
  const moved: Appointment = {
    ...a,
    start,
    end,
    slot: to.slotIds.map((id) => ({ reference: `Slot/${id}` })),
    extension: [...(a.extension ?? []).filter((e) => e.url !== RESCHEDULED_FROM_URL), original],
    comment: a.comment ? `${a.comment}\n${note}` : note,
  };
  if (a.minutesDuration) moved.minutesDuration = Math.round((to.end - to.start) / 60_000);
  return moved;
}
