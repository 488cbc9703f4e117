import { Injectable } from '@nestjs/common';
import type { Appointment, Extension, OperationOutcomeIssue, Resource, Slot } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { OperationOutcomeError, outcome } from '../../fhir/operation-outcome';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import {
  CONFLICT_RESOLUTION_URL,
  PROPOSED_SLOT_URL,
  appointmentPeriod,
  bookedActors,
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
 * No double-booking: an active Appointment may not overlap another active appointment of any
 * actor it books (Practitioner, PractitionerRole, Location, Device, HealthcareService). A conflict
 * is refused (409) with the nearest free slot of the doctor's schedule proposed, or, when the
 * appointment carries the conflict-resolution extension `nearest-slot`, moved there. The Slots an
 * active appointment references become busy; those it no longer holds become free again.
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
    const period = appointmentPeriod(appointment);
    const actors = bookedActors(appointment);
    if (isActiveAppointment(appointment) && period && actors.length) {
      await this.repo.lockActors(tx, actors);
      await ctx.flush();
      const conflicts = await this.repo.bookings(tx, actors, period.start, period.end, id);
      if (conflicts.length) {
        const proposal = await this.propose(tx, actors, period, id);
        if (proposal && wantsNearestSlot(appointment)) {
          appointment = moveAppointment(appointment, proposal, conflictText(conflicts[0], actors));
        } else {
          throw refusal(conflicts, actors, period, proposal);
        }
      }
    }
    await this.syncSlots(tx, appointment, ctx);
    return appointment === resource ? undefined : appointment;
  }

  /** The nearest free slot of the doctors' schedules (else of any booked actor's) that is free for every actor. */
  private async propose(tx: Tx, actors: string[], period: { start: number; end: number }, id: string): Promise<SlotProposal | undefined> {
    const doctors = actors.filter((a) => a.startsWith('Practitioner/'));
    let schedules = doctors.length ? await this.repo.schedulesOf(tx, doctors) : [];
    if (!schedules.length) schedules = await this.repo.schedulesOf(tx, actors);
    const from = period.start - SEARCH_WINDOW_MS;
    const to = period.end + SEARCH_WINDOW_MS;
    const slots = await this.repo.freeSlots(tx, schedules, from, to);
    if (!slots.length) return undefined;
    const busy = await this.repo.bookings(tx, actors, from - (period.end - period.start), to + (period.end - period.start), id);
    return nearestFreeSlot(period, slots, busy);
  }

  /** A deleted appointment lets go of its slots, as a cancelled one does. */
  async beforeDelete(tx: Tx, previous: Resource): Promise<void> {
    const appointment = previous as Appointment;
    for (const slotId of slotIds(appointment)) {
      if (!(await this.repo.slotTakenByOther(tx, slotId, appointment.id as string))) await this.setSlotStatus(tx, slotId, 'busy', 'free');
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
      if (!(await this.repo.slotTakenByOther(tx, slotId, appointment.id as string))) await this.setSlotStatus(tx, slotId, 'busy', 'free');
    }
  }

  private async setSlotStatus(tx: Tx, slotId: string, from: Slot['status'], to: Slot['status']): Promise<void> {
    const current = await this.writer.currentOf(tx, 'Slot', slotId);
    if (!current || current.deleted || !current.json) return;
    const slot = JSON.parse(current.json) as Slot;
    if (slot.status !== from) return;
    await this.writer.updateInTx(tx, { ...slot, status: to }, {});
  }
}

function slotIds(a: Appointment | undefined): string[] {
  return (a?.slot ?? []).map((s) => localReference(s.reference)).filter((r) => r?.type === 'Slot').map((r) => r!.id);
}

function conflictText(c: Booking, actors: string[]): string {
  const shared = c.actors.filter((a) => actors.includes(a)).join(', ');
  return `${shared} is already booked from ${new Date(c.start).toISOString()} to ${new Date(c.end).toISOString()} by Appointment/${c.id}`;
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
