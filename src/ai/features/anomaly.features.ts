import type { Observation, ObservationComponent, Reference } from '@medplum/fhirtypes';
import { PLAUSIBLE, convert } from './tabular.features';

/**
 * The features of the vital-sign anomaly model (task `vital-sign-anomaly`), shared by the plugin
 * (src/ai/plugins/anomaly.plugin.ts) and the trainer (scripts/train-models/anomaly.ts), so that
 * what the model learnt from and what it is fed are computed by the same code. Pure.
 *
 * One reading (an Observation of one vital sign, a blood-pressure panel, or an ICU vital-signs
 * panel) becomes: the value of each vital it carries (the others missing: the graph imputes a
 * normal value), and how far the reading is from the patient's own recent readings of the same
 * code (the baseline), in robust standard deviations.
 */

const LOINC = 'http://loinc.org';
export const ANOMALY_SYSTEM = 'urn:fhir-ai-server:anomaly';

/** A coding with every part given (what a manifest input names). */
export interface VitalCoding {
  system: string;
  code: string;
  display: string;
}

export type VitalName = 'heart_rate' | 'respiratory_rate' | 'spo2' | 'systolic_bp' | 'temperature';

export interface AnomalyVital {
  name: VitalName;
  code: VitalCoding;
  alternativeCodes?: VitalCoding[];
  /** UCUM unit fed to the model. */
  unit: string;
  /** A value NEWS2 scores 0: what the graph substitutes when the reading does not carry this vital. */
  normal: number;
  /** The smallest spread a baseline is given (a very steady baseline would make every wobble "sudden"). */
  scaleFloor: number;
}

export const ANOMALY_VITALS: readonly AnomalyVital[] = [
  { name: 'heart_rate', code: { system: LOINC, code: '8867-4', display: 'Heart rate' }, unit: '/min', normal: 75, scaleFloor: 5 },
  { name: 'respiratory_rate', code: { system: LOINC, code: '9279-1', display: 'Respiratory rate' }, unit: '/min', normal: 16, scaleFloor: 2 },
  {
    name: 'spo2',
    code: { system: LOINC, code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry' },
    alternativeCodes: [{ system: LOINC, code: '2708-6', display: 'Oxygen saturation in Arterial blood' }],
    unit: '%',
    normal: 97,
    scaleFloor: 1.5,
  },
  { name: 'systolic_bp', code: { system: LOINC, code: '8480-6', display: 'Systolic blood pressure' }, unit: 'mm[Hg]', normal: 120, scaleFloor: 8 },
  { name: 'temperature', code: { system: LOINC, code: '8310-5', display: 'Body temperature' }, unit: 'Cel', normal: 37, scaleFloor: 0.3 },
];

/** The model's last input: the largest deviation from the baseline among the reading's vitals. */
export const DEVIATION_INPUT: { name: string; code: VitalCoding } = {
  name: 'baseline_deviation',
  code: { system: ANOMALY_SYSTEM, code: 'baseline-deviation', display: 'Deviation from the patient\'s own recent readings (robust SDs)' },
};

/** The baseline: the patient's readings of the same code in the 24 h before this one, the latest 20, at least 3. */
export const BASELINE = { windowHours: 24, maxReadings: 20, minReadings: 3 } as const;

/** 1.4826 * MAD estimates the sd of normal data; a floor keeps a flat baseline from turning noise into alarms. */
export function robustDeviation(value: number, baseline: readonly number[], floor: number): number | undefined {
  if (baseline.length < BASELINE.minReadings) return undefined;
  const med = median(baseline);
  const mad = median(baseline.map((b) => Math.abs(b - med)));
  return Math.abs(value - med) / Math.max(1.4826 * mad, floor);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The model's row from the vitals of a reading and their baselines (the trainer's and the plugin's one definition). */
export function anomalyRow(values: Partial<Record<VitalName, number>>, baselines: Partial<Record<VitalName, readonly number[]>>): { row: Record<string, number>; deviation?: { vital: VitalName; value: number } } {
  const row: Record<string, number> = {};
  let deviation: { vital: VitalName; value: number } | undefined;
  for (const v of ANOMALY_VITALS) {
    const value = values[v.name];
    row[v.name] = value ?? Number.NaN;
    if (value === undefined) continue;
    const d = robustDeviation(value, baselines[v.name] ?? [], v.scaleFloor);
    if (d !== undefined && (!deviation || d > deviation.value)) deviation = { vital: v.name, value: d };
  }
  row[DEVIATION_INPUT.name] = deviation ? Math.round(deviation.value * 1000) / 1000 : Number.NaN;
  return { row, deviation };
}

const codes = (v: AnomalyVital) => [v.code, ...(v.alternativeCodes ?? [])];
const hasCode = (holder: { code?: Observation['code'] }, v: AnomalyVital) =>
  !!holder.code?.coding?.some((c) => codes(v).some((k) => k.system === c.system && k.code === c.code));

/** The vitals one Observation carries (its own value, or its components'), in the model's units; refused values with the reason. */
export function readingVitals(obs: Observation): { values: Partial<Record<VitalName, number>>; problems: string[] } {
  const values: Partial<Record<VitalName, number>> = {};
  const problems: string[] = [];
  const holders: ObservationComponent[] = [obs as ObservationComponent, ...(obs.component ?? [])];
  for (const v of ANOMALY_VITALS) {
    const holder = holders.find((h) => hasCode(h, v) && typeof h.valueQuantity?.value === 'number');
    if (!holder?.valueQuantity) continue;
    const q = holder.valueQuantity;
    const unit = q.code ?? q.unit;
    const converted = unit === undefined ? q.value : convert(q.value as number, unit, v.unit);
    if (converted === undefined) {
      problems.push(`${v.name}: unit "${unit}" cannot be converted to ${v.unit}; not scored`);
      continue;
    }
    const [lo, hi] = PLAUSIBLE[v.unit] ?? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
    if (converted < lo || converted > hi) {
      problems.push(`${v.name}: ${converted} ${v.unit} is not a possible value (a unit or typing error?); not scored`);
      continue;
    }
    values[v.name] = Math.round(converted * 100) / 100;
  }
  return { values, problems };
}

/** Whether an Observation carries a vital sign the model reads. */
export function carriesVitalSign(obs: Observation): boolean {
  const holders = [obs as ObservationComponent, ...(obs.component ?? [])];
  return ANOMALY_VITALS.some((v) => holders.some((h) => hasCode(h, v)));
}

/** When a reading was taken (ms), or undefined. */
export function readingTime(obs: Observation): number | undefined {
  const t = obs.effectiveDateTime ?? obs.effectiveInstant ?? obs.effectivePeriod?.start ?? obs.issued ?? obs.meta?.lastUpdated;
  const ms = t ? Date.parse(t) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

export interface AnomalyInput {
  row: Record<string, number>;
  /** The vitals this reading carries. */
  present: VitalName[];
  /** The largest deviation from the baseline, and of which vital; absent without enough baseline. */
  deviation?: { vital: VitalName; value: number };
  /** The earlier readings that made the baseline. */
  baseline: Reference[];
  /** Inputs fed as missing (the graph imputes them). */
  missing: string[];
  problems: string[];
}

/**
 * The model's input for one reading, given the patient's other Observations: for each vital it
 * carries, the baseline is the same vital in the patient's earlier readings (taken in the
 * BASELINE.windowHours before it, the latest BASELINE.maxReadings; not the AI's own, nor
 * entered-in-error ones). Pure.
 */
export function buildAnomalyInput(reading: Observation, others: readonly Observation[], isOwnOutput: (o: Observation) => boolean = () => false): AnomalyInput {
  const { values, problems } = readingVitals(reading);
  const at = readingTime(reading);
  const earlier = others
    .filter((o) => o.id !== reading.id && !isOwnOutput(o) && o.status !== 'entered-in-error' && o.status !== 'cancelled')
    .map((o) => ({ o, t: readingTime(o) }))
    .filter((x): x is { o: Observation; t: number } => x.t !== undefined && at !== undefined && x.t < at && x.t >= at - BASELINE.windowHours * 3600_000)
    .sort((a, b) => b.t - a.t);
  const baselines: Partial<Record<VitalName, number[]>> = {};
  const used = new Set<string>();
  for (const name of Object.keys(values) as VitalName[]) {
    const series: number[] = [];
    for (const { o } of earlier) {
      if (series.length >= BASELINE.maxReadings) break;
      const value = readingVitals(o).values[name];
      if (value === undefined) continue;
      series.push(value);
      used.add(`Observation/${o.id}`);
    }
    baselines[name] = series;
  }
  const { row, deviation } = anomalyRow(values, baselines);
  const present = Object.keys(values) as VitalName[];
  // Baseline readings are named only when a deviation was computed from them.
  const baseline = deviation ? [...used].map((reference) => ({ reference })) : [];
  const missing = Object.entries(row).filter(([, v]) => Number.isNaN(v)).map(([k]) => k);
  return { row, present, ...(deviation ? { deviation } : {}), baseline, missing, problems };
}
