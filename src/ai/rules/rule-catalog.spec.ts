import { FLAG_HORIZON_DAYS, FLAG_SHARE, RATE_WINDOW_DAYS, MAINTENANCE_METHOD, MAINTENANCE_METHOD_VERSION } from '../../hospital/equipment/maintenance-forecast';
import { FORECAST_METHOD } from '../../hospital/beds/occupancy-forecast';
import { HIGH_STRESS, STRESS_RULE_VERSION, TREND_MIN_RISE, TREND_READINGS } from '../../hospital/wellness/stress-intervention';
import { IMPROVING_SCORE, PROGRESS_VERSION } from '../../hospital/wellness/wellness-progress';
import { BILLING_RULES_VERSION } from '../../hospital/billing/claim-errors';
import { modelId } from '../model-device';
import { RULE_DEFINITIONS, RULE_TASKS, builtInRule, canonicalJson, implementedRule, ruleManifest } from './rule-catalog';

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' } })).toBe('{"a":{"c":"x","d":[2,1]},"b":1}');
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
  });
});

describe('the rule catalogue', () => {
  it('has one built-in version per rule task, and versions unique by name', () => {
    expect(RULE_TASKS.map((t) => builtInRule(t).task)).toEqual(RULE_TASKS);
    for (const t of RULE_TASKS) expect(RULE_DEFINITIONS.filter((d) => d.task === t && d.builtIn)).toHaveLength(1);
    const ids = RULE_DEFINITIONS.map((d) => `${d.name} ${d.version}`);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('describes the built-in versions with the constants the code runs with, under the labels outputs always carried', () => {
    expect(implementedRule('holt-winters-additive-weekly', '1.0.0')!.parameters).toEqual({ seasonLength: FORECAST_METHOD.seasonLength, alpha: FORECAST_METHOD.alpha, beta: FORECAST_METHOD.beta, gamma: FORECAST_METHOD.gamma });
    expect(FORECAST_METHOD).toMatchObject({ name: 'holt-winters-additive-weekly', version: '1.0.0' });
    expect(implementedRule(MAINTENANCE_METHOD, MAINTENANCE_METHOD_VERSION)!.parameters).toEqual({ flagShare: FLAG_SHARE, flagHorizonDays: FLAG_HORIZON_DAYS, rateWindowDays: RATE_WINDOW_DAYS });
    expect(implementedRule('stress-intervention', '1.0.0')!.parameters).toEqual({ highStress: HIGH_STRESS, trendReadings: TREND_READINGS, trendMinRise: TREND_MIN_RISE });
    expect(implementedRule('wellness-progress', '1.0.0')!.parameters.improvingScore).toBe(IMPROVING_SCORE);
    expect(ruleManifest(builtInRule('stress-intervention')).label).toBe(STRESS_RULE_VERSION);
    expect(ruleManifest(builtInRule('wellness-progress')).label).toBe(PROGRESS_VERSION);
    expect(ruleManifest(builtInRule('billing-error-detection')).label).toBe(BILLING_RULES_VERSION);
  });

  it('hashes the canonical definition: stable, and different for other parameters', () => {
    const hw = implementedRule('holt-winters-additive-weekly', '1.0.0')!;
    const a = ruleManifest(hw);
    expect(a.definition.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(ruleManifest({ ...hw, parameters: { gamma: 0.3, beta: 0.1, alpha: 0.4, seasonLength: 7 } }).definition.sha256).toBe(a.definition.sha256);
    expect(ruleManifest({ ...hw, parameters: { ...hw.parameters, alpha: 0.5 } }).definition.sha256).not.toBe(a.definition.sha256);
    expect(ruleManifest(implementedRule('holt-winters-additive-weekly', '1.1.0')!).definition.sha256).not.toBe(a.definition.sha256);
    expect(a).toMatchObject({ kind: 'rule', task: 'occupancy-forecast', parameters: hw.parameters });
  });

  it('gives registry ids (Device ids) that fit a FHIR id', () => {
    for (const d of RULE_DEFINITIONS) expect(modelId({ name: d.name, version: d.version } as never)).toMatch(/^[A-Za-z0-9.-]{1,64}$/);
  });
});
