import { Injectable } from '@nestjs/common';
import type { Tx } from '../../database/database.service';
import { DatabaseService } from '../../database/database.service';
import type { StayPeriod } from './bed-stays';
import type { BedInfo, OccupiedStay } from './occupancy';

/** A stay holding a bed (allocating or occupying, bed-stays.ts) that is in the way of a new one. */
export interface Allocation {
  encounterId: string;
  patientId: string;
  bed: string;
  start: string | null;
  end: string | null;
}

export interface BedRowView {
  id: string;
  name: string | null;
  ward: string | null;
  occupied: boolean;
  patientId: string | null;
  occupancyPrediction: unknown;
}

/** The stay `l` overlaps [start, end), unless the two meet on a day given as a date (bed-stays.ts overlaps). */
const OVERLAP = `(?::timestamptz IS NULL OR l->>'start' IS NULL OR (l->>'start')::timestamptz < ?::timestamptz)
  AND (?::timestamptz IS NULL OR l->>'end' IS NULL OR (l->>'end')::timestamptz > ?::timestamptz)
  AND NOT coalesce(l->>'endDay' = ?::text, false) AND NOT coalesce(l->>'startDay' = ?::text, false)`;

/** SQL of the beds module over `beds` and `encounters.locations` (see the scheduling/beds migration). */
@Injectable()
export class BedsRepository {
  constructor(private readonly db: DatabaseService) {}

  /** Holds allocations of these beds and this patient until the transaction ends (sorted: one order for everyone). */
  async lock(tx: Tx, keys: readonly string[]): Promise<void> {
    for (const key of [...new Set(keys)].sort()) await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 11))', [key]);
  }

  /** The transaction's time (PostgreSQL now()), which the occupancy triggers compare stays with. */
  async transactionTime(tx: Tx): Promise<string> {
    const [row] = await tx.query<{ at: Date }>('SELECT now() AS at');
    return new Date(row.at).toISOString();
  }

  /** Which of these Location ids are beds. */
  async bedsAmong(tx: Tx, ids: readonly string[]): Promise<Set<string>> {
    const rows = await tx.query<{ id: string }>('SELECT id FROM beds WHERE id = ANY (?::text[])', [ids]);
    return new Set(rows.map((r) => r.id));
  }

  /** Stays holding the bed (allocating or occupying), in encounters other than `exceptEncounter`, overlapping [start, end). */
  async allocationsOfBed(tx: Tx, bed: string, stay: StayPeriod, exceptEncounter: string): Promise<Allocation[]> {
    return this.allocations(
      tx,
      `(e.locations @> ?::jsonb OR e.locations @> ?::jsonb) AND l->>'location' = ?`,
      [JSON.stringify([{ location: bed, allocating: true }]), JSON.stringify([{ location: bed, occupying: true }]), bed],
      stay,
      exceptEncounter,
    );
  }

  /** Stays of the patient holding any bed (allocating or occupying), in encounters other than `exceptEncounter`, overlapping [start, end). */
  async allocationsOfPatient(tx: Tx, patientId: string, stay: StayPeriod, exceptEncounter: string): Promise<Allocation[]> {
    return this.allocations(tx, `e.patient_id = ? AND EXISTS (SELECT 1 FROM beds b WHERE b.id = l->>'location')`, [patientId], stay, exceptEncounter);
  }

  private async allocations(tx: Tx, where: string, params: unknown[], stay: StayPeriod, exceptEncounter: string): Promise<Allocation[]> {
    const { start, end } = stay;
    const rows = await tx.query<{ id: string; patient_id: string; bed: string; start: string | null; end: string | null }>(
      `SELECT e.id, e.patient_id, l->>'location' AS bed, l->>'start' AS start, l->>'end' AS "end"
         FROM encounters e CROSS JOIN LATERAL jsonb_array_elements(e.locations) l
        WHERE ${where} AND ((l->>'allocating')::boolean OR (l->>'occupying')::boolean) AND e.id <> ? AND ${OVERLAP}
        ORDER BY l->>'start' NULLS FIRST, e.id`,
      [...params, exceptEncounter, end, end, start, start, stay.startDay ?? null, stay.endDay ?? null],
    );
    return rows.map((r) => ({ encounterId: r.id, patientId: r.patient_id, bed: r.bed, start: r.start, end: r.end }));
  }

  /** Recomputes occupied/patient_id of every bed (for stays whose period ended with no write). */
  async refreshOccupancy(actor: string): Promise<number> {
    return this.db.transaction({ actor }, async (tx) => {
      const [row] = await tx.query<{ n: number }>('SELECT refresh_bed_occupancy(NULL) AS n');
      return Number(row?.n ?? 0);
    });
  }

  async beds(): Promise<BedRowView[]> {
    const rows = await this.db.query<{ id: string; room_number: string | null; ward_id: string | null; occupied: boolean | null; patient_id: string | null; occupancy_prediction: unknown }>(
      'SELECT id, room_number, ward_id, occupied, patient_id, occupancy_prediction FROM beds ORDER BY ward_id NULLS LAST, id',
    );
    return rows.map((r) => ({ id: r.id, name: r.room_number, ward: r.ward_id, occupied: !!r.occupied, patientId: r.patient_id, occupancyPrediction: r.occupancy_prediction }));
  }

  bedInfos(beds: BedRowView[]): BedInfo[] {
    return beds.map((b) => ({ id: b.id, ward: b.ward }));
  }

  /** Stays the patient was present for (the mapper's "occupying") in a bed, overlapping [from, to). */
  async occupiedStays(from: number, to: number): Promise<OccupiedStay[]> {
    const rows = await this.db.query<{ bed: string; start: string | null; end: string | null }>(
      `SELECT b.id AS bed, l->>'start' AS start, l->>'end' AS "end"
         FROM beds b
         JOIN encounters e ON e.locations @> jsonb_build_array(jsonb_build_object('location', b.id::text, 'occupying', true))
         CROSS JOIN LATERAL jsonb_array_elements(e.locations) l
        WHERE l->>'location' = b.id AND (l->>'occupying')::boolean
          AND (l->>'start' IS NULL OR (l->>'start')::timestamptz < ?::timestamptz)
          AND (l->>'end' IS NULL OR (l->>'end')::timestamptz > ?::timestamptz)`,
      [new Date(to).toISOString(), new Date(from).toISOString()],
    );
    return rows.map((r) => ({ bed: r.bed, start: r.start ? Date.parse(r.start) : null, end: r.end ? Date.parse(r.end) : null }));
  }

  /** Stores the forecast of each ward on its beds (`occupancy_prediction`). */
  /** Stores each ward's forecast on its beds; `also` runs in the same transaction (the forecast's count per rule version). */
  async savePredictions(actor: string, byWard: Map<string | null, unknown>, also?: (tx: Tx) => Promise<void>): Promise<void> {
    await this.db.transaction({ actor }, async (tx) => {
      for (const [ward, prediction] of byWard) {
        await tx.query('UPDATE beds SET occupancy_prediction = ?::jsonb WHERE ward_id IS NOT DISTINCT FROM ?', [JSON.stringify(prediction), ward]);
      }
      await also?.(tx);
    });
  }
}
