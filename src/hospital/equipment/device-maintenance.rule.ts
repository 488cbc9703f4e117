import { Injectable } from '@nestjs/common';
import type { Device, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { badRequest } from '../../fhir/operation-outcome';
import type { WriteRule } from '../../fhir/write/write-rules';
import { LAST_MAINTENANCE_URL, MAINTENANCE_INTERVAL_URL, isEquipment } from './device-usage';
import { MaintenanceService } from './maintenance.service';

/**
 * Every write of an equipment Device recomputes its predictive maintenance (server-owned: what a
 * client sends in that extension is replaced), so recording maintenance (last-maintenance) clears
 * the flag and completes the Task in the same transaction. AI model Devices are left alone.
 */
@Injectable()
export class DeviceMaintenanceRule implements WriteRule {
  readonly name = 'equipment-device-maintenance';
  readonly resourceTypes = ['Device'];

  constructor(private readonly maintenance: MaintenanceService) {}

  async beforeWrite(tx: Tx, resource: Resource): Promise<Resource | void> {
    const device = resource as Device;
    if (!isEquipment(device)) return;
    const intervals = device.extension?.filter((e) => e.url === MAINTENANCE_INTERVAL_URL) ?? [];
    if (intervals.length > 1 || (intervals.length && !(typeof intervals[0].valueDecimal === 'number' && intervals[0].valueDecimal > 0))) {
      throw badRequest('A Device has at most one maintenance-interval-hours extension, with a valueDecimal greater than 0', ['Device.extension']);
    }
    const last = device.extension?.filter((e) => e.url === LAST_MAINTENANCE_URL) ?? [];
    const now = new Date();
    if (last.length > 1 || (last.length && !(last[0].valueDateTime && Date.parse(last[0].valueDateTime) <= now.getTime() + 60_000))) {
      throw badRequest('A Device has at most one last-maintenance extension, with a valueDateTime that is not in the future', ['Device.extension']);
    }
    return this.maintenance.amend(tx, device, now);
  }
}
