import type { Device, DeviceUseStatement, Extension } from '@medplum/fhirtypes';
import { dateRange } from '../../fhir/search/search-values';
import type { MaintenanceForecast } from './maintenance-forecast';

/** Device.type coding of the AI model versions (the model registry's Devices): not equipment. */
export const AI_TASK_SYSTEM = 'urn:fhir-ai-server:ai-task';
/** The maintenance interval of the device's type, in hours of use (valueDecimal > 0). */
export const MAINTENANCE_INTERVAL_URL = 'https://fhir-ai-server.dev/StructureDefinition/maintenance-interval-hours';
/** When the device was last maintained (valueDateTime): recording maintenance = setting this. */
export const LAST_MAINTENANCE_URL = 'https://fhir-ai-server.dev/StructureDefinition/last-maintenance';
/** Server-owned: the predictive maintenance result (sub-extensions; clients cannot set it). */
export const PREDICTIVE_MAINTENANCE_URL = 'https://fhir-ai-server.dev/StructureDefinition/predictive-maintenance';

/** DeviceUseStatement statuses whose period was spent using the device. */
export const USAGE_STATUSES: readonly string[] = ['active', 'completed', 'stopped'];
/** R4 Device.statusReason codes under which the device cannot be booked. */
export const UNAVAILABLE_STATUS_REASONS: readonly string[] = ['offline', 'not-ready', 'hw-discon', 'transduc-discon', 'off'];

/** Whether the Device is hospital equipment (every Device but the AI model versions). */
export function isEquipment(device: Device): boolean {
  return !device.type?.coding?.some((c) => c.system === AI_TASK_SYSTEM);
}

/** The interval in hours, or undefined when not given. */
export function maintenanceIntervalHours(device: Device): number | undefined {
  const v = device.extension?.find((e) => e.url === MAINTENANCE_INTERVAL_URL)?.valueDecimal;
  return typeof v === 'number' && v > 0 ? v : undefined;
}

/** The last maintenance instant (ms), or undefined. */
export function lastMaintenance(device: Device): number | undefined {
  const v = device.extension?.find((e) => e.url === LAST_MAINTENANCE_URL)?.valueDateTime;
  const t = v ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? undefined : t;
}

/** Why the device cannot be booked now (empty: it can). Device status, not bookings. */
export function deviceUnavailableReasons(device: Device): string[] {
  const reasons: string[] = [];
  if (device.status !== 'active') reasons.push(`status ${device.status ?? 'unknown'}`);
  for (const cc of device.statusReason ?? []) {
    for (const c of cc.coding ?? []) if (c.code && UNAVAILABLE_STATUS_REASONS.includes(c.code)) reasons.push(`statusReason ${c.code}`);
  }
  return reasons;
}

/** `Device/id` the statement is about, or undefined. */
export function usageDeviceId(s: DeviceUseStatement): string | undefined {
  const m = /^Device\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/.exec(s.device?.reference ?? '');
  return m?.[1];
}

/**
 * The period a statement used its device [start, end) in ms: timingPeriod (an `active` one without
 * end runs until `now`); untimed statements (timingDateTime, timingTiming) carry no hours.
 */
export function usagePeriod(s: DeviceUseStatement, now: number): { start: number; end: number } | undefined {
  if (!USAGE_STATUSES.includes(s.status)) return undefined;
  const start = s.timingPeriod?.start ? Date.parse(s.timingPeriod.start) : NaN;
  let end = s.timingPeriod?.end ? Date.parse(s.timingPeriod.end) : NaN;
  if (Number.isNaN(end) && s.status === 'active') end = now;
  if (Number.isNaN(start) || Number.isNaN(end) || end <= start) return undefined;
  return { start, end: Math.min(end, Math.max(start, now)) };
}

/**
 * Why the statement's timingPeriod is not a period (undefined when it is, or has no two ends): its end
 * lies wholly before its start, each read at its precision (R4 per-1: start <= end; a date-only end
 * covers its whole day, so `2026-01-05` may end a period that starts `2026-01-05T10:00`).
 */
export function timingPeriodProblem(s: DeviceUseStatement): string | undefined {
  const { start, end } = s.timingPeriod ?? {};
  const from = start ? dateRange(start) : undefined;
  const to = end ? dateRange(end) : undefined;
  if (!from || !to || Date.parse(to.high) > Date.parse(from.low)) return undefined;
  return `timingPeriod.end ${end} is before timingPeriod.start ${start}`;
}

/** The device with its predictive-maintenance extension replaced (removed when `ext` is undefined). */
export function withPredictiveExtension(device: Device, ext: Extension | undefined): Device {
  const others = (device.extension ?? []).filter((e) => e.url !== PREDICTIVE_MAINTENANCE_URL);
  const extension = ext ? [...others, ext] : others;
  const { extension: _e, ...rest } = device;
  return extension.length ? { ...rest, extension } : rest;
}

/** The forecast as the Device's server-owned extension. */
export function predictiveExtension(f: MaintenanceForecast): Extension {
  const sub: Extension[] = [
    { url: 'flag', valueBoolean: f.flag },
    { url: 'reason', valueString: f.reason },
    { url: 'intervalHours', valueDecimal: f.interval_hours },
    { url: 'hoursSinceMaintenance', valueDecimal: f.hours_since_maintenance },
    { url: 'rateHoursPerDay', valueDecimal: f.rate_hours_per_day },
    { url: 'method', valueString: `${f.method}|${f.method_version}` },
    { url: 'generatedAt', valueDateTime: f.generated_at },
  ];
  if (f.predicted_date) sub.push({ url: 'predictedDate', valueDate: f.predicted_date });
  if (f.last_maintenance) sub.push({ url: 'lastMaintenance', valueDateTime: f.last_maintenance });
  return { url: PREDICTIVE_MAINTENANCE_URL, extension: sub };
}

/** The forecast read back from the Device (what `resources.predictive_maintenance` holds), or null. */
export function predictiveMaintenanceOf(device: Device): MaintenanceForecast | null {
  const ext = device.extension?.find((e) => e.url === PREDICTIVE_MAINTENANCE_URL);
  if (!ext) return null;
  const get = (url: string) => ext.extension?.find((e) => e.url === url);
  const [method, version] = (get('method')?.valueString ?? '').split('|');
  return {
    method,
    method_version: version ?? '',
    generated_at: get('generatedAt')?.valueDateTime ?? '',
    flag: get('flag')?.valueBoolean === true,
    reason: get('reason')?.valueString ?? '',
    interval_hours: get('intervalHours')?.valueDecimal ?? 0,
    hours_since_maintenance: get('hoursSinceMaintenance')?.valueDecimal ?? 0,
    rate_hours_per_day: get('rateHoursPerDay')?.valueDecimal ?? 0,
    predicted_date: get('predictedDate')?.valueDate ?? null,
    last_maintenance: get('lastMaintenance')?.valueDateTime ?? null,
  };
}
