import { Injectable } from '@nestjs/common';
import type { PractitionerRole } from '@medplum/fhirtypes';
import { DatabaseService } from '../../database/database.service';
import { INACTIVE_APPOINTMENT_STATUSES } from '../scheduling/appointment-booking';
import type { DeviceAvailability } from '../../fhir/projection/mappers/device.mapper';
import type { MaintenanceForecast } from './maintenance-forecast';

export interface EquipmentRow {
  id: string;
  availability: DeviceAvailability | null;
  predictiveMaintenance: MaintenanceForecast | null;
}

/** Reads for the availability and maintenance API (outside any write transaction). */
@Injectable()
export class EquipmentRepository {
  constructor(private readonly db: DatabaseService) {}

  async equipment(): Promise<EquipmentRow[]> {
    const rows = await this.db.query<{ id: string; availability: DeviceAvailability | null; predictive_maintenance: MaintenanceForecast | null }>(
      `SELECT id, availability, predictive_maintenance FROM resources WHERE type = 'equipment' ORDER BY id`,
    );
    return rows.map((r) => ({ id: r.id, availability: r.availability, predictiveMaintenance: r.predictive_maintenance }));
  }

  /** Active appointments overlapping [from, to) that book any of `actors`: actor → appointment ids. */
  async bookings(actors: readonly string[], from: number, to: number): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (!actors.length) return out;
    const rows = await this.db.query<{ id: string; actors: string[] }>(
      `SELECT id, actors FROM appointment_bookings
        WHERE actors && ?::text[] AND start_at < ? AND end_at > ? AND (status IS NULL OR status <> ALL (?::text[]))
        ORDER BY start_at, id`,
      [actors, new Date(to).toISOString(), new Date(from).toISOString(), INACTIVE_APPOINTMENT_STATUSES],
    );
    const wanted = new Set(actors);
    for (const r of rows) for (const a of r.actors) if (wanted.has(a)) out.set(a, [...(out.get(a) ?? []), `Appointment/${r.id}`]);
    return out;
  }

  /** The PractitionerRoles that name a practitioner, and the practitioners' names. */
  async staff(): Promise<{ roles: PractitionerRole[]; names: Map<string, string> }> {
    const roles = await this.db.query<{ content: PractitionerRole }>(
      `SELECT content FROM fhir_resource WHERE resource_type = 'PractitionerRole' AND NOT deleted AND content IS NOT NULL
          AND content->'practitioner'->>'reference' LIKE 'Practitioner/%' ORDER BY id`,
    );
    const names = await this.db.query<{ id: string; name: string }>('SELECT id, name FROM doctors');
    return { roles: roles.map((r) => r.content), names: new Map(names.map((n) => [n.id, n.name])) };
  }
}
