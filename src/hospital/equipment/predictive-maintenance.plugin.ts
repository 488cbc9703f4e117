import type { Device, DeviceUseStatement, Resource } from '@medplum/fhirtypes';
import type { RulePlugin } from '../../ai/ai-plugin';
import { numberParameter, ruleModelExtension } from '../../ai/rules/rule-outputs';
import { isEquipment, lastMaintenance, maintenanceIntervalHours, predictiveExtension, usageDeviceId, withPredictiveExtension } from './device-usage';
import { FLAG_HORIZON_DAYS, FLAG_SHARE, RATE_WINDOW_DAYS, forecastMaintenance, type MaintenanceForecast, type MaintenanceInput, type Period } from './maintenance-forecast';

/** What the maintenance service gathers for an equipment Device being written: the device, its periods of use, now (ms). */
export interface MaintenanceRunInput {
  device: Device;
  usages: readonly Period[];
  now: number;
}

/**
 * Predictive maintenance (task predictive-maintenance; versions `usage-hours-linear` in ai_models):
 * an equipment Device with a maintenance interval carries the forecast from its hours of use
 * (maintenance-forecast.ts) as its server-owned extension (→ resources.predictive_maintenance),
 * with `model`: the version's Device.
 */
export const PREDICTIVE_MAINTENANCE_PLUGIN: RulePlugin<MaintenanceRunInput, MaintenanceInput, MaintenanceForecast, Device> = {
  task: 'predictive-maintenance',
  // In-write: the Device is stored with its forecast, and its maintenance Task opened or completed, in the transaction
  // of the write that changed its use (the Device, or a DeviceUseStatement naming it), so flag and Task never disagree.
  runs: 'in-write',
  resourceTypes: ['Device', 'DeviceUseStatement'],
  triggers: (_event, resource: Resource) =>
    resource.resourceType === 'Device'
      ? isEquipment(resource as Device) && maintenanceIntervalHours(resource as Device) !== undefined
      : usageDeviceId(resource as DeviceUseStatement) !== undefined,
  engine: {
    kind: 'rule',
    evaluate: (rule, input) =>
      forecastMaintenance(input, {
        name: rule.name,
        version: rule.version,
        flagShare: numberParameter(rule, 'flagShare', FLAG_SHARE),
        flagHorizonDays: numberParameter(rule, 'flagHorizonDays', FLAG_HORIZON_DAYS),
        rateWindowDays: numberParameter(rule, 'rateWindowDays', RATE_WINDOW_DAYS),
      }),
    scored: (f) => ({ score: Math.round((f.hours_since_maintenance / f.interval_hours) * 1000) / 1000, label: f.flag ? 'flagged' : 'not-flagged' }),
  },
  // Triggered only by a Device with an interval.
  prepare: (_rule, { device, usages, now }) => ({ intervalHours: maintenanceIntervalHours(device) as number, lastMaintenance: lastMaintenance(device), usages, now }),
  outputs: (rule, { device }, _prepared, forecast) => {
    const ext = predictiveExtension(forecast);
    return withPredictiveExtension(device, { ...ext, extension: [...(ext.extension ?? []), ruleModelExtension(rule)] });
  },
};
