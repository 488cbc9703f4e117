import { createHash } from 'node:crypto';

/**
 * The tasks served by rules rather than ONNX models: the hospital modules' AI behaviours. Like a
 * model task, each has versions in ai_models (kind `rule`), one active at a time.
 */
export type RuleTask = 'billing-error-detection' | 'occupancy-forecast' | 'predictive-maintenance' | 'stress-intervention' | 'wellness-progress';
export const RULE_TASKS: RuleTask[] = ['billing-error-detection', 'occupancy-forecast', 'predictive-maintenance', 'stress-intervention', 'wellness-progress'];

export type RuleParameter = number | string | boolean | string[];

/**
 * A rule version the code implements: its name and semantic version, the task it serves, its
 * parameters (what the implementation is called with) and its method in words. A rule version can
 * be registered only if it is listed here; a new version of a rule is a new entry (usually new
 * parameters for the same function), reviewed like any code change.
 */
export interface RuleDefinition {
  name: string;
  version: string;
  task: RuleTask;
  title: string;
  description: string;
  parameters: Record<string, RuleParameter>;
  /** The version seeded (and made active) at start-up when its task has none: the first of each rule. */
  builtIn: boolean;
  /** What outputs have always called this version (kept so that stored annotations do not change); default `<name> <version>`. */
  label?: string;
}

/** The manifest stored in ai_models for a rule version (no file): the definition and the sha256 of its canonical form. */
export interface RuleManifest {
  kind: 'rule';
  name: string;
  version: string;
  task: RuleTask;
  title: string;
  description: string;
  parameters: Record<string, RuleParameter>;
  label: string;
  definition: { sha256: string; canonical: string };
  metrics: Record<string, never>;
}

export const RULE_DEFINITIONS: readonly RuleDefinition[] = [
  {
    name: 'billing-error-rules',
    version: '1.0.0',
    task: 'billing-error-detection',
    title: 'Billing error rules',
    description:
      'Flags a Claim as it is written (never refuses it): no encounter referenced, an encounter not found or of another patient, a service date outside the encounter, ' +
      'a duplicate of another active claim of the patient (same code, date and amount), an item net that is not quantity x unit price x factor, a total that is not the sum of the items (src/hospital/billing/claim-errors.ts).',
    parameters: {
      amountTolerance: 0.005,
      checks: ['no-encounter', 'encounter-not-found', 'encounter-other-patient', 'outside-encounter-period', 'duplicate', 'item-net-mismatch', 'total-mismatch'],
    },
    builtIn: true,
  },
  {
    name: 'holt-winters-additive-weekly',
    version: '1.0.0',
    task: 'occupancy-forecast',
    title: 'Bed occupancy forecast (Holt-Winters, additive, weekly season)',
    description:
      'Holt-Winters additive exponential smoothing with weekly seasonality on the daily occupancy series of the last 56 days; seasonal naive with one to two weeks of history, ' +
      'the mean with less; clamped to [0, beds] (src/hospital/beds/occupancy-forecast.ts).',
    parameters: { seasonLength: 7, alpha: 0.4, beta: 0.1, gamma: 0.3 },
    builtIn: true,
  },
  {
    name: 'holt-winters-additive-weekly',
    version: '1.1.0',
    task: 'occupancy-forecast',
    title: 'Bed occupancy forecast (Holt-Winters, additive, weekly season, smoother)',
    description:
      'The same method as 1.0.0 with smaller smoothing constants: level, trend and season follow recent days more slowly, for wards whose day-to-day occupancy is noisy ' +
      '(src/hospital/beds/occupancy-forecast.ts).',
    parameters: { seasonLength: 7, alpha: 0.2, beta: 0.05, gamma: 0.2 },
    builtIn: false,
  },
  {
    name: 'usage-hours-linear',
    version: '1.0.0',
    task: 'predictive-maintenance',
    title: 'Predictive maintenance from hours of use (linear)',
    description:
      'Hours of use since the last maintenance (overlaps counted once), extrapolated at the rate of the last 30 days; flagged at 90% of the interval or when it is reached ' +
      'within 14 days (src/hospital/equipment/maintenance-forecast.ts).',
    parameters: { flagShare: 0.9, flagHorizonDays: 14, rateWindowDays: 30 },
    builtIn: true,
  },
  {
    name: 'stress-intervention',
    version: '1.0.0',
    task: 'stress-intervention',
    title: 'Stress intervention rule',
    description:
      'A stress reading (PSS-10, LOINC stress level, device stress score) on a 0..1 scale suggests an intervention when it is high, or when the last readings rise ' +
      'at each step by enough in all (src/hospital/wellness/stress-intervention.ts).',
    parameters: { highStress: 0.75, trendReadings: 3, trendMinRise: 0.2 },
    builtIn: true,
    label: 'stress-intervention/1',
  },
  {
    name: 'wellness-progress',
    version: '1.0.0',
    task: 'wellness-progress',
    title: 'Wellness plan progress from its goals',
    description:
      "The mean of the plan's counted goals' scores: 1 for a completed or achieved goal, the share of the way from the baseline to the target for a measured one, " +
      '0.5 for an improving one, else 0 (src/hospital/wellness/wellness-progress.ts).',
    parameters: { improvingScore: 0.5, notCounted: ['cancelled', 'rejected', 'entered-in-error'] },
    builtIn: true,
    label: 'wellness-progress/1',
  },
];

/** JSON with sorted keys, so that the same definition always hashes the same. Pure. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The manifest of a rule version, with the sha256 of its canonical definition (kind, name, version, task, parameters, description). Pure. */
export function ruleManifest(def: RuleDefinition): RuleManifest {
  const canonical = canonicalJson({ kind: 'rule', name: def.name, version: def.version, task: def.task, parameters: def.parameters, description: def.description });
  return {
    kind: 'rule',
    name: def.name,
    version: def.version,
    task: def.task,
    title: def.title,
    description: def.description,
    parameters: def.parameters,
    label: def.label ?? `${def.name} ${def.version}`,
    definition: { sha256: createHash('sha256').update(canonical).digest('hex'), canonical },
    metrics: {},
  };
}

/** The rule version the code implements under this name and version, if any. */
export function implementedRule(name: string, version: string): RuleDefinition | undefined {
  return RULE_DEFINITIONS.find((d) => d.name === name && d.version === version);
}

/** The version of a task seeded at start-up (its first). */
export function builtInRule(task: RuleTask): RuleDefinition {
  return RULE_DEFINITIONS.find((d) => d.task === task && d.builtIn) as RuleDefinition;
}

export function isRuleTask(task: unknown): task is RuleTask {
  return RULE_TASKS.includes(task as RuleTask);
}
