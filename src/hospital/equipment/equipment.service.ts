import { Injectable } from '@nestjs/common';
import type { PractitionerRole } from '@medplum/fhirtypes';
import { badRequest } from '../../fhir/operation-outcome';
import { EquipmentRepository } from './equipment.repository';
import type { MaintenanceForecast } from './maintenance-forecast';
import { maintenanceTaskId } from './maintenance-task';
import { staffHours } from './staff-hours';
import { queryInstant } from '../query-instant';

const MAX_WINDOW_MS = 31 * 86_400_000;

export interface ResourceAvailability {
  resource: string;
  kind: 'equipment' | 'staff';
  name: string | null;
  available: boolean;
  reasons: string[];
  bookings: string[];
  roles?: string[];
  maintenance_due?: boolean;
}

export interface AvailabilityReport {
  from: string;
  to: string;
  type: string | null;
  available: string[];
  resources: ResourceAvailability[];
}

export interface MaintenanceReport {
  resource: string;
  name: string | null;
  predictive_maintenance: MaintenanceForecast;
  task: string | null;
}


@Injectable()
export class EquipmentService {
  constructor(private readonly repo: EquipmentRepository) {}

  /** Equipment and staff free for the whole of [from, to): device status, practitioner hours, bookings. */
  async availability(type: unknown, fromParam: unknown, toParam: unknown): Promise<AvailabilityReport> {
    if (type !== undefined && type !== 'equipment' && type !== 'staff') throw badRequest('type must be equipment or staff', ['type']);
    const from = queryInstant(fromParam, 'from');
    const to = queryInstant(toParam, 'to');
    if (!(from < to)) throw badRequest('from must be before to', ['from']);
    if (to - from > MAX_WINDOW_MS) throw badRequest('The window may span at most 31 days', ['to']);

    const resources: ResourceAvailability[] = [];
    if (type !== 'staff') {
      for (const e of await this.repo.equipment()) {
        resources.push({
          resource: `Device/${e.id}`,
          kind: 'equipment',
          name: e.availability?.name ?? null,
          available: e.availability?.available ?? false,
          reasons: [...(e.availability?.reasons ?? [])],
          bookings: [],
          maintenance_due: e.predictiveMaintenance?.flag ?? false,
        });
      }
    }
    if (type !== 'equipment') {
      const { roles, names } = await this.repo.staff();
      const byPractitioner = new Map<string, PractitionerRole[]>();
      for (const r of roles) {
        const ref = (r.practitioner?.reference ?? '').replace(/\/_history\/.*$/, '');
        byPractitioner.set(ref, [...(byPractitioner.get(ref) ?? []), r]);
      }
      for (const [ref, rs] of [...byPractitioner].sort(([a], [b]) => a.localeCompare(b))) {
        const hours = staffHours(rs, from, to);
        resources.push({
          resource: ref,
          kind: 'staff',
          name: names.get(ref.slice('Practitioner/'.length)) ?? null,
          available: hours.available,
          reasons: hours.reasons,
          bookings: [],
          roles: rs.map((r) => `PractitionerRole/${r.id}`),
        });
      }
    }
    // An appointment books a practitioner directly or through one of their roles.
    const actors = resources.flatMap((r) => [r.resource, ...(r.roles ?? [])]);
    const booked = await this.repo.bookings(actors, from, to);
    for (const r of resources) {
      r.bookings = [...new Set([r.resource, ...(r.roles ?? [])].flatMap((a) => booked.get(a) ?? []))].sort();
      if (r.bookings.length) {
        r.available = false;
        r.reasons.push(...r.bookings.map((b) => `booked: ${b}`));
      }
    }
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      type: (type as string | undefined) ?? null,
      available: resources.filter((r) => r.available).map((r) => r.resource),
      resources,
    };
  }

  /** Equipment with a forecast, flagged first, then by predicted date. */
  async maintenance(flaggedOnly: boolean): Promise<MaintenanceReport[]> {
    const rows = (await this.repo.equipment()).filter((e) => e.predictiveMaintenance && (!flaggedOnly || e.predictiveMaintenance.flag));
    return rows
      .map((e) => ({
        resource: `Device/${e.id}`,
        name: e.availability?.name ?? null,
        predictive_maintenance: e.predictiveMaintenance as MaintenanceForecast,
        task: e.predictiveMaintenance?.flag ? `Task/${maintenanceTaskId(e.id)}` : null,
      }))
      .sort((a, b) => Number(b.predictive_maintenance.flag) - Number(a.predictive_maintenance.flag) || (a.predictive_maintenance.predicted_date ?? '9999').localeCompare(b.predictive_maintenance.predicted_date ?? '9999') || a.resource.localeCompare(b.resource));
  }
}
