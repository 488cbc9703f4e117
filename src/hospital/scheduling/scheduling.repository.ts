import { Injectable } from '@nestjs/common';
import type { Slot } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { INACTIVE_APPOINTMENT_STATUSES } from './appointment-booking';
import type { FreeSlot } from './nearest-slot';

/** An active appointment that books one of the actors (or holds one of the slots) asked about. */
export interface Booking {
  id: string;
  actors: string[];
  /** NaN when it has no time (a proposed appointment holding a slot). */
  start: number;
  end: number;
}

/** SQL of the scheduling rule, always inside the write transaction (so it sees its earlier writes once flushed). */
@Injectable()
export class SchedulingRepository {
  /**
   * Serialises bookings per actor (and per Slot, as `Slot/<id>`) until the transaction ends: two
   * clients booking the same doctor at once queue here, and the second sees the first's committed
   * appointment. Sorted, so two appointments naming the same actors lock them in the same order.
   */
  async lockActors(tx: Tx, actors: readonly string[]): Promise<void> {
    for (const actor of [...actors].sort()) await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 9))', [`booking:${actor}`]);
  }

  /**
   * The actors with everyone they stand for: a PractitionerRole's practitioner, and every role of
   * each practitioner (a doctor booked through a role is booked, whichever reference the other
   * appointment used). From the search index (`PractitionerRole.practitioner`).
   */
  async sameActors(tx: Tx, actors: readonly string[]): Promise<string[]> {
    const idsOf = (type: string) => actors.filter((a) => a.startsWith(`${type}/`)).map((a) => a.slice(type.length + 1));
    const rows = await tx.query<{ ref: string }>(
      `WITH doctors AS (
         SELECT unnest(?::text[]) AS id
         UNION SELECT target_id FROM search_reference
          WHERE resource_type = 'PractitionerRole' AND code = 'practitioner' AND target_type = 'Practitioner' AND resource_id = ANY (?::text[]))
       SELECT 'Practitioner/' || id AS ref FROM doctors
       UNION SELECT 'PractitionerRole/' || resource_id FROM search_reference
        WHERE resource_type = 'PractitionerRole' AND code = 'practitioner' AND target_type = 'Practitioner' AND target_id IN (SELECT id FROM doctors)`,
      [idsOf('Practitioner'), idsOf('PractitionerRole')],
    );
    return [...new Set([...actors, ...rows.map((r) => r.ref)])].sort();
  }

  /** Active appointments other than `exceptId` that book any of `actors` and overlap [from, to). */
  async bookings(tx: Tx, actors: readonly string[], from: number, to: number, exceptId: string): Promise<Booking[]> {
    const rows = await tx.query<BookingRow>(
      `SELECT id, actors, start_at, end_at FROM appointment_bookings
        WHERE actors && ?::text[] AND id <> ? AND start_at < ? AND end_at > ?
          AND (status IS NULL OR status <> ALL (?::text[]))
        ORDER BY start_at, id`,
      [actors, exceptId, new Date(to).toISOString(), new Date(from).toISOString(), INACTIVE_APPOINTMENT_STATUSES],
    );
    return rows.map(toBooking);
  }

  /** Active Schedules whose actor is one of `actors`. */
  async schedulesOf(tx: Tx, actors: readonly string[]): Promise<string[]> {
    const rows = await tx.query<{ id: string }>(
      `SELECT DISTINCT s.resource_id AS id FROM search_reference s
         JOIN fhir_resource r ON r.resource_type = 'Schedule' AND r.id = s.resource_id AND NOT r.deleted
        WHERE s.target_id = ANY (?::text[]) AND s.resource_type = 'Schedule' AND s.code = 'actor'
          AND (s.target_type || '/' || s.target_id) = ANY (?::text[])
          AND COALESCE(r.content->>'active', 'true') <> 'false'
        ORDER BY 1`,
      [actors.map((a) => a.slice(a.indexOf('/') + 1)), actors],
    );
    return rows.map((r) => r.id);
  }

  /** Free Slots of the schedules that overlap [from, to). */
  async freeSlots(tx: Tx, schedules: readonly string[], from: number, to: number): Promise<FreeSlot[]> {
    if (!schedules.length) return [];
    const rows = await tx.query<{ id: string; content: Slot }>(
      `SELECT r.id, r.content FROM fhir_resource r
        WHERE r.resource_type = 'Slot' AND NOT r.deleted AND r.content->>'status' = 'free'
          AND r.id IN (SELECT resource_id FROM search_reference
                        WHERE resource_type = 'Slot' AND code = 'schedule' AND target_type = 'Schedule' AND target_id = ANY (?::text[]))`,
      [schedules],
    );
    const slots: FreeSlot[] = [];
    for (const { id, content } of rows) {
      const start = Date.parse(content.start);
      const end = Date.parse(content.end);
      const schedule = content.schedule?.reference?.replace(/^Schedule\//, '') ?? '';
      if (Number.isNaN(start) || Number.isNaN(end) || start >= to || end <= from) continue;
      slots.push({ id, schedule, start, end });
    }
    return slots;
  }

  /** Active appointments other than `exceptId` that hold any of the slots (`Appointment.slot`), the slots among their actors. */
  async slotHolders(tx: Tx, slotIds: readonly string[], exceptId: string): Promise<Booking[]> {
    if (!slotIds.length) return [];
    const rows = await tx.query<BookingRow>(
      `SELECT b.id, array_agg(DISTINCT 'Slot/' || s.target_id) || COALESCE(b.actors, '{}') AS actors, b.start_at, b.end_at
         FROM search_reference s JOIN appointment_bookings b ON b.id = s.resource_id
        WHERE s.resource_type = 'Appointment' AND s.code = 'slot' AND s.target_type = 'Slot' AND s.target_id = ANY (?::text[])
          AND s.resource_id <> ? AND (b.status IS NULL OR b.status <> ALL (?::text[]))
        GROUP BY b.id, b.actors, b.start_at, b.end_at
        ORDER BY b.start_at, b.id`,
      [slotIds, exceptId, INACTIVE_APPOINTMENT_STATUSES],
    );
    return rows.map(toBooking);
  }
}

interface BookingRow {
  id: string;
  actors: string[];
  start_at: Date | null;
  end_at: Date | null;
}

const toBooking = (r: BookingRow): Booking => ({ id: r.id, actors: r.actors, start: r.start_at ? new Date(r.start_at).getTime() : NaN, end: r.end_at ? new Date(r.end_at).getTime() : NaN });
