import type { Device } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { compact, conceptLabel, json, requireId, str } from './mapper-utils';
import {
  deviceUnavailableReasons,
  isEquipment,
  predictiveExtension,
  predictiveMaintenanceOf,
} from '../../../hospital/equipment/device-usage';
import type { MaintenanceForecast } from '../../../hospital/equipment/maintenance-forecast';

/** What `resources.availability` holds for a Device (bookings are the appointments table's to say). */
export interface DeviceAvailability {
  resource: string;
  name: string | null;
  device_type: string | null;
  status: string | null;
  available: boolean;
  reasons: string[];
}

/**
 * Device (equipment, i.e. not an AI model version coded `urn:fhir-ai-server:ai-task`) → resources
 * (type `equipment`): its status-based availability and the server-computed predictive
 * maintenance extension. A Device that becomes an AI model loses its row.
 */
export const deviceMapper: ResourceMapper<Device> = {
  resourceType: 'Device',
  tables: ['resources'],

  toRows(device: Device): ProjectionRow[] {
    if (!isEquipment(device) || device.status === 'entered-in-error') return [];
    const reasons = deviceUnavailableReasons(device);
    const availability: DeviceAvailability = {
      resource: `Device/${requireId(device)}`,
      name: device.deviceName?.[0]?.name ?? null,
      device_type: conceptLabel(device.type) ?? null,
      status: device.status ?? null,
      available: reasons.length === 0,
      reasons,
    };
    return [
      {
        table: 'resources',
        values: { id: requireId(device), type: 'equipment', availability, predictive_maintenance: predictiveMaintenanceOf(device) },
      },
    ];
  },

  toResource(row: Record<string, unknown>): Device {
    const a = json<DeviceAvailability>(row.availability);
    const pm = json<MaintenanceForecast>(row.predictive_maintenance);
    return compact<Device>({
      resourceType: 'Device',
      id: String(row.id),
      status: (str(a?.status ?? undefined) ?? undefined) as Device['status'],
      deviceName: a?.name ? [{ name: a.name, type: 'user-friendly-name' }] : undefined,
      type: a?.device_type ? { text: a.device_type } : undefined,
      extension: pm ? [predictiveExtension(pm)] : undefined,
    });
  },
};
