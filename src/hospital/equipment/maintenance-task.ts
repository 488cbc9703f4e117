import type { Device, Task } from '@medplum/fhirtypes';
import type { MaintenanceForecast } from './maintenance-forecast';

export const BIOMED_TASK_SYSTEM = 'urn:fhir-ai-server:biomed-task';
export const OPEN_TASK_STATUSES = ['draft', 'requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold'];

/** One maintenance Task per Device (id derived from it): a flag raised twice reopens the same Task. */
export function maintenanceTaskId(deviceId: string): string {
  const id = `maintenance-${deviceId}`;
  return id.length <= 64 ? id : `maintenance-${deviceId.slice(-52)}`;
}

const label = (d: Device) => d.deviceName?.[0]?.name ?? `Device/${d.id}`;

/** Pure: the open Task for biomedical engineering. */
export function openMaintenanceTask(device: Device, f: MaintenanceForecast, now: Date): Task {
  return {
    resourceType: 'Task',
    id: maintenanceTaskId(device.id as string),
    status: 'requested',
    intent: 'order',
    priority: f.hours_since_maintenance >= f.interval_hours ? 'urgent' : 'routine',
    code: { coding: [{ system: BIOMED_TASK_SYSTEM, code: 'preventive-maintenance', display: 'Preventive maintenance' }] },
    description: `Maintain ${label(device)}: ${f.reason}`,
    focus: { reference: `Device/${device.id}` },
    authoredOn: now.toISOString(),
    lastModified: now.toISOString(),
    ...(f.predicted_date ? { restriction: { period: { end: f.predicted_date } } } : {}),
  };
}

/** Pure: the Task completed once the flag has cleared (maintenance recorded). */
export function completedMaintenanceTask(task: Task, f: MaintenanceForecast | null, now: Date): Task {
  const { meta: _meta, ...rest } = task;
  const text = f?.last_maintenance ? `Maintained on ${f.last_maintenance}` : 'Flag cleared';
  return { ...rest, status: 'completed', lastModified: now.toISOString(), note: [...(task.note ?? []), { time: now.toISOString(), text }] };
}
