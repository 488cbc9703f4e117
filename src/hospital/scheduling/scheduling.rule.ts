import { Injectable } from '@nestjs/common';
import type { Appointment, Extension, OperationOutcomeIssue, Resource, Slot } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { OperationOutcomeError, badRequest, outcome } from '../../fhir/operation-outcome';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import {
  CONFLICT_RESOLUTION_URL,
  PROPOSED_SLOT_URL,
  appointmentPeriod,
  bookedActors,
  invalidPeriod,
  isActiveAppointment,
  localReference,
  moveAppointment,
  wantsNearestSlot,
} from './appointment-booking';
import { nearestFreeSlot, type SlotProposal } from './nearest-slot';
import { SchedulingRepository, type Booking } from './scheduling.repository';

/** How far around the requested time the nearest free slot is looked for. */
const SEARCH_WINDOW_MS = 60 * 24 * 3_600_000;

/**
 * No double-booking: an active Appointment (with a local Patient or not) may not overlap another
 * active appointment of any actor it books (Practitioner, PractitionerRole, Location, Device,
 * HealthcareService; a role and its practitioner are one doctor), nor reference a Slot another
 * active appointment holds. A conflict is refused (409) with the nearest free slot of the
 * doctor's schedule proposed, or, when the appointment carries the conflict-resolution extension
 * `nearest-slot`, moved there. An end not after the start is refused (400), times outside the
 * referenced Slots too (422). The Slots an active appointment references become busy; those it no
 * longer holds become free again.
 */
@Injectable()
export class SchedulingRule implements WriteRule {
  readonly name = 'scheduling:no-double-booking';
  readonly resourceTypes = ['Appointment'] as const;

  constructor(
    private readonly repo: SchedulingRepository,
    private readonly writer: ResourceWriteService,
  ) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource | void> {
    let appointment = resource as Appointment;
    const id = appointment.id as string;
    const invalid = invalidPeriod(appointment);
    if (invalid) throw badRequest(invalid, ['Appointment.start', 'Appointment.end']);
    const period = appointmentPeriod(appointment);
    if (isActiveAppointment(appointment) && period) {
      const slots = slotIds(appointment);
      await this.checkSlotTimes(tx, slots, period);
      await this.checkSlotsOpen(tx, slots, ctx.previous as Appointment | undefined);
      await ctx.flush();
      const actors = await this.repo.sameActors(tx, bookedActors(appointment));
      const held = [...actors, ...slots.map((s) => `Slot/${s}`)];
      if (held.length) {
        await this.repo.lockActors(tx, held);
        const conflicts = mergeBookings([...(await this.repo.slotHolders(tx, slots, id)), ...(await this.repo.bookings(tx, actors, period.start, period.end, id))]);
        if (conflicts.length) {
          const proposal = await this.propose(tx, actors, period, id);
          if (proposal && wantsNearestSlot(appointment)) {
            appointment = moveAppointment(appointment, proposal, conflictText(conflicts[0], held));
          } else {
            throw refusal(conflicts, held, period, proposal);
          }
        }
      }
    }
    await this.syncSlots(tx, appointment, ctx);
    return appointment === resource ? undefined : appointment;
  }

  /** 422 unless the appointment lies within its slots and each slot overlaps it (a slot that is not stored is left to the reference checks). */
  private async checkSlotTimes(tx: Tx, slotIds: string[], period: { start: number; end: number }): Promise<void> {
    const times: Array<{ id: string; start: number; end: number }> = [];
    for (const id of slotIds) {
      const slot = await this.slotOf(tx, id);
      if (slot) times.push({ id, start: Date.parse(slot.start), end: Date.parse(slot.end) });
    }
    if (!times.length) return;
    const from = Math.min(...times.map((t) => t.start));
    const to = Math.max(...times.map((t) => t.end));
    const apart = times.find((t) => !(t.start < period.end && period.start < t.end));
    if (period.start < from || period.end > to || apart) {
      const span = (a: number, b: number) => `${new Date(a).toISOString()} to ${new Date(b).toISOString()}`;
      throw OperationOutcomeError.of(
        422,
        'business-rule',
        `The appointment (${span(period.start, period.end)}) must lie within its slots (${times.map((t) => `Slot/${t.id} ${span(t.start, t.end)}`).join(', ')})` +
          (apart ? `, and Slot/${apart.id} does not overlap it` : ''),
        ['Appointment.slot', 'Appointment.start', 'Appointment.end'],
      );
    }
  }

  /**
   * 409 for a Slot newly taken that cannot be booked: R4 says a `busy-unavailable` slot "cannot be
   * scheduled", and an `entered-in-error` one is no slot at all. A slot the appointment already held
   * stays held when it is closed afterwards (the appointment can still be updated or cancelled).
   */
  private async checkSlotsOpen(tx: Tx, ids: string[], previous: Appointment | undefined): Promise<void> {
    const held = new Set(previous && isActiveAppointment(previous) ? slotIds(previous) : []);
    for (const id of ids.filter((s) => !held.has(s))) {
      const status = (await this.slotOf(tx, id))?.status;
      if (status === 'busy-unavailable' || status === 'entered-in-error') {
        throw OperationOutcomeError.of(409, 'conflict', `Slot/${id} is ${status}: it cannot be booked; choose a free slot`, ['Appointment.slot']);
      }
    }
  }

  /** The nearest free slot of the doctors' schedules (else of any booked actor's) that is free for every actor and has not begun. */
  private async propose(tx: Tx, actors: string[], period: { start: number; end: number }, id: string): Promise<SlotProposal | undefined> {
    const doctors = actors.filter((a) => a.startsWith('Practitioner/'));
    let schedules = doctors.length ? await this.repo.schedulesOf(tx, doctors) : [];
    if (!schedules.length) schedules = await this.repo.schedulesOf(tx, actors);
    const from = period.start - SEARCH_WINDOW_MS;
    const to = period.end + SEARCH_WINDOW_MS;
    const slots = await this.repo.freeSlots(tx, schedules, from, to);
    if (!slots.length) return undefined;
    const busy = await this.repo.bookings(tx, actors, from - (period.end - period.start), to + (period.end - period.start), id);
    return nearestFreeSlot(period, slots, busy, Date.now());
  }

  /** A deleted appointment lets go of its slots, as a cancelled one does. */
  async beforeDelete(tx: Tx, previous: Resource): Promise<void> {
    const appointment = previous as Appointment;
    for (const slotId of slotIds(appointment)) {
      if (!(await this.repo.slotHolders(tx, [slotId], appointment.id as string)).length) await this.setSlotStatus(tx, slotId, 'busy', 'free');
    }
  }

  /** Slots held by an active appointment are busy; slots it let go of are free again unless another holds them. */
  private async syncSlots(tx: Tx, appointment: Appointment, ctx: WriteRuleContext): Promise<void> {
    const held = isActiveAppointment(appointment) ? slotIds(appointment) : [];
    const released = slotIds(ctx.previous as Appointment | undefined).filter((s) => !held.includes(s));
    for (const slotId of held) await this.setSlotStatus(tx, slotId, 'free', 'busy');
    if (!released.length) return;
    await ctx.flush();
    for (const slotId of released) {
      if (!(await this.repo.slotHolders(tx, [slotId], appointment.id as string)).length) await this.setSlotStatus(tx, slotId, 'busy', 'free');
    }
  }

  private async setSlotStatus(tx: Tx, slotId: string, from: Slot['status'], to: Slot['status']): Promise<void> {
    const slot = await this.slotOf(tx, slotId);
    if (slot?.status !== from) return;
    await this.writer.updateInTx(tx, { ...slot, status: to }, {});
  }

  /** The current Slot, as this transaction sees it. */
  private async slotOf(tx: Tx, slotId: string): Promise<Slot | undefined> {
    const current = await this.writer.currentOf(tx, 'Slot', slotId);
    return current && !current.deleted && current.json ? (JSON.parse(current.json) as Slot) : undefined;
  }
}

function slotIds(a: Appointment | undefined): string[] {
  return (a?.slot ?? []).map((s) => localReference(s.reference)).filter((r) => r?.type === 'Slot').map((r) => r!.id);
}

/** One entry per appointment in the way (held slots and booked actors together). */
function mergeBookings(bookings: Booking[]): Booking[] {
  const byId = new Map<string, Booking>();
  for (const b of bookings) {
    const seen = byId.get(b.id);
    byId.set(b.id, seen ? { ...seen, actors: [...new Set([...seen.actors, ...b.actors])] } : b);
  }
  return [...byId.values()];
}

function conflictText(c: Booking, actors: string[]): string {
  const shared = c.actors.filter((a) => actors.includes(a)).join(', ');
  const when = Number.isNaN(c.start) ? '' : ` from ${new Date(c.start).toISOString()} to ${new Date(c.end).toISOString()}`;
  return `${shared} is already booked${when} by Appointment/${c.id}`;
}

/** 409: every conflict as an error issue, and the proposal (or its absence) as an information issue. */
function refusal(conflicts: Booking[], actors: string[], period: { start: number; end: number }, proposal: SlotProposal | undefined): OperationOutcomeError {
  const requested = `${new Date(period.start).toISOString()} to ${new Date(period.end).toISOString()}`;
  const issues: OperationOutcomeIssue[] = conflicts.map((c) => ({
    severity: 'error',
    code: 'conflict',
    diagnostics: `Double booking: ${conflictText(c, actors)}, which overlaps the requested ${requested}`,
    expression: ['Appointment.participant'],
  }));
  if (proposal) {
    const start = new Date(proposal.start).toISOString();
    const end = new Date(proposal.end).toISOString();
    const ext: Extension = {
      url: PROPOSED_SLOT_URL,
      extension: [
        { url: 'start', valueDateTime: start },
        { url: 'end', valueDateTime: end },
        ...proposal.slotIds.map((id) => ({ url: 'slot', valueReference: { reference: `Slot/${id}` } })),
      ],
    };
    issues.push({
      severity: 'information',
      code: 'informational',
      diagnostics: `Nearest free slot: ${start} to ${end} (${proposal.slotIds.map((s) => `Slot/${s}`).join(', ')}); resend with the extension ${CONFLICT_RESOLUTION_URL} = nearest-slot, or POST /api/scheduling/book, to be booked there`,
      extension: [ext],
    });
  } else {
    issues.push({ severity: 'information', code: 'informational', diagnostics: 'No free slot of the same duration was found in the schedule within 60 days of the requested time' });
  }
  return new OperationOutcomeError(409, outcome(issues));
}
