import { forecastOccupancy } from '../../hospital/beds/occupancy-forecast';
import { OCCUPANCY_FORECAST_PLUGIN } from '../../hospital/beds/occupancy-forecast.plugin';
import { forecastMaintenance } from '../../hospital/equipment/maintenance-forecast';
import { PREDICTIVE_MAINTENANCE_PLUGIN } from '../../hospital/equipment/predictive-maintenance.plugin';
import { interventionDecision } from '../../hospital/wellness/stress-intervention';
import { STRESS_INTERVENTION_PLUGIN } from '../../hospital/wellness/stress-intervention.plugin';
import { WELLNESS_PROGRESS_PLUGIN } from '../../hospital/wellness/wellness-progress.plugin';
import { deviceOf } from '../model-device';
import { builtInRule, implementedRule, ruleManifest, type RuleDefinition } from './rule-catalog';
import { activeRuleOf } from './rule-registry.service';
import { ruleModelExtension } from './rule-outputs';

const DAY = 86_400_000;

describe('rule behaviours: a version\'s parameters drive the output', () => {
  it('occupancy forecast: 1.0.0 is the documented method; 1.1.0 smooths with its own constants', () => {
    const history = Array.from({ length: 28 }, (_, i) => [1, 2, 3, 4, 3, 2, 1][i % 7] + (i >= 21 ? 1 : 0));
    const v10 = OCCUPANCY_FORECAST_PLUGIN.engine.evaluate(builtInRule('occupancy-forecast'), { history, horizon: 7, capacity: 10 });
    expect(v10).toEqual(forecastOccupancy(history, 7, 10));
    const v11 = OCCUPANCY_FORECAST_PLUGIN.engine.evaluate(implementedRule('holt-winters-additive-weekly', '1.1.0')!, { history, horizon: 7, capacity: 10 });
    expect(v11.method).toBe('holt-winters-additive-weekly');
    expect(v11.values).not.toEqual(v10.values);
  });

  it('stress intervention: the built-in version is the rule as documented; a version with a lower threshold suggests earlier', () => {
    const def = builtInRule('stress-intervention');
    expect(STRESS_INTERVENTION_PLUGIN.engine.evaluate(def, { score: 0.7, previous: [] })).toEqual(interventionDecision(0.7, []));
    expect(STRESS_INTERVENTION_PLUGIN.engine.evaluate(def, { score: 0.7, previous: [] }).suggested).toBe(false);
    const stricter: RuleDefinition = { ...def, version: '9.0.0', parameters: { ...def.parameters, highStress: 0.6 } };
    expect(STRESS_INTERVENTION_PLUGIN.engine.evaluate(stricter, { score: 0.7, previous: [] })).toEqual({ suggested: true, reason: 'high stress: 0.7 ≥ 0.6' });
  });

  it('predictive maintenance: the forecast carries the version that made it', () => {
    const now = Date.UTC(2026, 10, 27);
    const input = { intervalHours: 100, usages: [{ start: now - 10 * DAY, end: now - 10 * DAY + 50 * 3_600_000 }], now };
    const def = builtInRule('predictive-maintenance');
    expect(PREDICTIVE_MAINTENANCE_PLUGIN.engine.evaluate(def, input)).toEqual(forecastMaintenance(input));
    const other = PREDICTIVE_MAINTENANCE_PLUGIN.engine.evaluate({ ...def, version: '2.0.0', parameters: { ...def.parameters, flagShare: 0.4 } }, input);
    expect(other).toMatchObject({ method_version: '2.0.0', flag: true });
  });

  it('wellness progress: an improving goal scores the version\'s improvingScore', () => {
    const goal = { resourceType: 'Goal', lifecycleStatus: 'active', achievementStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/goal-achievement', code: 'improving' }] } } as never;
    const def = builtInRule('wellness-progress');
    expect(WELLNESS_PROGRESS_PLUGIN.engine.evaluate(def, { goals: [goal], measurementsOf: () => [] })).toBe(0.5);
    expect(WELLNESS_PROGRESS_PLUGIN.engine.evaluate({ ...def, parameters: { ...def.parameters, improvingScore: 0.25 } }, { goals: [goal], measurementsOf: () => [] })).toBe(0.25);
  });
});

describe('a rule version\'s FHIR view', () => {
  it('is a Device of kind rule, with its parameters, the sha256 of its definition, and what outputs reference', () => {
    const rule = activeRuleOf(builtInRule('occupancy-forecast'));
    const manifest = ruleManifest(rule.definition);
    const device = deviceOf(rule.id, manifest as never, manifest.definition.sha256, 'candidate');
    expect(device).toMatchObject({
      id: 'holt-winters-additive-weekly-1.0.0',
      status: 'inactive',
      identifier: [{ value: manifest.definition.sha256 }],
      type: { coding: [{ code: 'occupancy-forecast' }], text: 'AI rule (versioned, implemented in code)' },
      version: [{ value: '1.0.0' }],
    });
    expect(device.property![0].valueCode![0].coding![0].code).toBe('candidate');
    expect(device.property).toEqual(expect.arrayContaining([{ type: { text: 'parameter gamma' }, valueQuantity: [{ value: 0.3 }] }]));
    expect(ruleModelExtension(rule)).toEqual({ url: 'model', valueReference: { reference: 'Device/holt-winters-additive-weekly-1.0.0', display: 'holt-winters-additive-weekly 1.0.0' } });
  });
});
