import type { CodeableConcept, Observation, Patient, Reference } from '@medplum/fhirtypes';
import type { ManifestInput, ModelManifest } from '../model-manifest';

/** What a tabular model is fed, and what it was fed from. */
export interface TabularInput {
  /** One value per manifest input; NaN where it is missing (the graph imputes it). */
  values: Record<string, number>;
  /** The Observations (and the Patient) the real values came from: the RiskAssessment's basis. */
  basis: Reference[];
  /** Inputs filled by the manifest's imputation, by name. */
  imputed: string[];
  /** Values refused (unknown unit, implausible), with the reason: they count as missing. */
  problems: string[];
  /** Whether enough real inputs are known for a meaningful estimate (manifest minRealInputs). */
  enough: boolean;
}

const LOINC = 'http://loinc.org';

/** UCUM conversions to a manifest's unit, for the units labs and devices commonly send (rates: RATE_PER_SECOND). */
const CONVERSIONS: Record<string, Record<string, (v: number) => number>> = {
  Cel: { '[degF]': (v) => ((v - 32) * 5) / 9, degF: (v) => ((v - 32) * 5) / 9, K: (v) => v - 273.15 },
  '/min': { 'beats/min': (v) => v, bpm: (v) => v },
  '%': { '1': (v) => v * 100 },
  'mm[Hg]': { mmHg: (v) => v, kPa: (v) => v * 7.50062 },
  // body mass (wellness goals: a goal in kg, readings from a scale in g or pounds)
  kg: { g: (v) => v / 1000, '[lb_av]': (v) => v * 0.45359237 },
  g: { kg: (v) => v * 1000, '[lb_av]': (v) => v * 453.59237 },
  '[lb_av]': { kg: (v) => v / 0.45359237, g: (v) => v / 453.59237 },
};

/**
 * A count per unit of time in each UCUM time unit, per second: a heart or respiratory rate from a
 * device may come per second or per hour (`/s`, `1/min`, `{beats}/min`: the annotation and a
 * leading 1 change nothing in UCUM).
 */
const RATE_PER_SECOND: Record<string, number> = { '/s': 1, '/min': 1 / 60, '/h': 1 / 3600 };

/**
 * mg/dL per mmol/L of the analytes whose molar mass is known here, by LOINC code. A molar
 * concentration converts to a mass concentration only through the substance's molar mass, so one
 * of another analyte (a newly registered model's input) is refused rather than converted with
 * cholesterol's factor.
 */
const MG_DL_PER_MMOL_L: Record<string, number> = {
  '2093-3': 38.67, // total cholesterol
  '2085-9': 38.67, // HDL cholesterol
  '2089-1': 38.67, // LDL cholesterol
  '13457-7': 38.67, // LDL cholesterol (calculated)
  '2571-8': 88.57, // triglycerides
  '2345-7': 18.016, // glucose
  '1558-6': 18.016, // fasting glucose
};

/**
 * What a value in a unit may plausibly be, whatever the model: outside this it is a unit or typing
 * error. For tabular inputs only a stand-in when a manifest declares no allowedValues or
 * plausibleRange of its own (the built-in manifests declare one for every input).
 */
export const PLAUSIBLE: Record<string, [number, number]> = {
  '/min': [0, 400],
  '%': [0, 100],
  'mm[Hg]': [0, 400],
  Cel: [20, 46],
  'mg/dL': [0, 2000],
  a: [0, 130],
};

/**
 * Builds a tabular model's input from a patient and their Observations: for each manifest input,
 * the latest Observation with its code (unit converted to the manifest's UCUM unit, or refused),
 * or the patient's age and sex for those inputs. The age is in whole years at the time of the most
 * recent Observation used (at `now` when none is). A value outside the input's allowedValues or
 * plausibleRange is refused (in problems). Missing and refused values are NaN and listed as
 * imputed: the model's graph imputes them as its manifest says. Pure.
 */
export function buildTabularInput(manifest: ModelManifest, patient: Patient | undefined, observations: Observation[], now = new Date()): TabularInput {
  const latest = latestByCode(observations);
  const values: Record<string, number> = {};
  const basis = new Map<string, Reference>();
  const imputed: string[] = [];
  const problems: string[] = [];
  const found = new Map<string, Found | undefined>();
  // Age last: it is taken at the time of the most recent other input (model card), not today.
  let latestInput = -Infinity;
  for (const input of manifest.inputs) {
    if (isAge(input)) continue;
    const f = admitted(input, valueOf(input, patient, latest, problems), problems);
    found.set(input.name, f);
    if (f?.at !== undefined) latestInput = Math.max(latestInput, f.at);
  }
  const ageAt = Number.isFinite(latestInput) ? new Date(latestInput) : now;
  for (const input of manifest.inputs) if (isAge(input)) found.set(input.name, admitted(input, ageOf(patient, ageAt), problems));

  let real = 0;
  for (const input of manifest.inputs) {
    const f = found.get(input.name);
    if (f === undefined) {
      values[input.name] = Number.NaN;
      imputed.push(input.name);
      continue;
    }
    values[input.name] = f.value;
    real++;
    if (f.from) basis.set(f.from.reference as string, f.from);
  }
  return { values, basis: [...basis.values()], imputed, problems, enough: real >= manifest.minRealInputs };
}

/** A value read for an input: where it came from and, for an Observation, when it was made. */
interface Found {
  value: number;
  from?: Reference;
  at?: number;
}

/**
 * Why a value is not one the model card admits for its input, if so: not one of its allowedValues,
 * or outside its plausibleRange (else, for a manifest that declares neither, outside the unit's
 * PLAUSIBLE bounds). Such a value is treated as missing and does not count as real. Pure.
 */
export function implausibility(input: ManifestInput, value: number): string | undefined {
  const unit = input.unit && input.unit !== '1' ? ` ${input.unit}` : '';
  if (input.allowedValues?.length) {
    if (input.allowedValues.some((a) => a.value === value)) return undefined;
    return `${input.name}: ${value} is implausible (allowed values: ${input.allowedValues.map((a) => a.value).join(', ')}); treated as missing`;
  }
  const declared = input.plausibleRange;
  const range = declared ? [declared.min, declared.max] : input.unit ? PLAUSIBLE[input.unit] : undefined;
  if (range && !(value >= range[0] && value <= range[1])) {
    return `${input.name}: ${value}${unit} is implausible${declared ? ` (plausible: ${range[0]} to ${range[1]}${unit})` : ''}; treated as missing`;
  }
  return undefined;
}

function admitted(input: ManifestInput, found: Found | undefined, problems: string[]): Found | undefined {
  if (!found) return undefined;
  const why = implausibility(input, found.value);
  if (why) problems.push(why);
  return why ? undefined : found;
}

function isAge(input: ManifestInput): boolean {
  return input.code.system === LOINC && input.code.code === '30525-0';
}

/** Whole years from the birth date to `at`, by the calendar (one more on each birthday). */
function ageOf(patient: Patient | undefined, at: Date): Found | undefined {
  if (!patient?.birthDate) return undefined;
  const [y, m = 1, d = 1] = patient.birthDate.split('-').map(Number);
  const beforeBirthday = at.getUTCMonth() + 1 < m || (at.getUTCMonth() + 1 === m && at.getUTCDate() < d);
  return { value: at.getUTCFullYear() - y - (beforeBirthday ? 1 : 0), from: { reference: `Patient/${patient.id}` } };
}

/**
 * The Observation codes buildTabularInput reads for a manifest: each input's code and its
 * alternatives, and the codes valueOf() reads in their place (consciousness also as 67775-7,
 * supplemental oxygen as O2 flow 3151-8 or FiO2 3150-0). Kept beside valueOf so the two agree. Pure.
 */
export function tabularObservationCodes(manifest: ModelManifest): string[] {
  const codes = new Set<string>();
  for (const input of manifest.inputs) {
    for (const c of [input.code, ...(input.alternativeCodes ?? [])]) if (c.code) codes.add(c.code);
    if (input.code.code === '80288-4') codes.add('67775-7');
    if (input.code.code === 'supplemental-oxygen') ['3151-8', '3150-0'].forEach((c) => codes.add(c));
  }
  return [...codes];
}

/** When an Observation was made, as an instant (zones honoured); -Infinity when it does not say. */
function when(o: Observation): number {
  const t = Date.parse(o.effectiveDateTime ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued ?? o.meta?.lastUpdated ?? '');
  return Number.isNaN(t) ? -Infinity : t;
}

/** The latest usable Observation per code, for its own code and for the codes of its components (panels). */
function latestByCode(observations: Observation[]): Map<string, Observation> {
  const out = new Map<string, Observation>();
  for (const o of observations) {
    if (o.status === 'entered-in-error' || o.status === 'cancelled') continue;
    const codings = [...(o.code?.coding ?? []), ...(o.component ?? []).flatMap((c) => c.code?.coding ?? [])];
    for (const c of codings) {
      const key = `${c.system}|${c.code}`;
      const prev = out.get(key);
      if (!prev || when(o) > when(prev)) out.set(key, o);
    }
  }
  return out;
}

/** The value of one input other than age (see ageOf), as read; buildTabularInput then checks it is admissible. */
function valueOf(input: ManifestInput, patient: Patient | undefined, latest: Map<string, Observation>, problems: string[]): Found | undefined {
  const { system, code } = input.code;
  const patientRef = patient ? { reference: `Patient/${patient.id}` } : undefined;
  if (system === LOINC && code === '46098-0') {
    if (patient?.gender === 'male') return { value: 1, from: patientRef };
    if (patient?.gender === 'female') return { value: 0, from: patientRef };
    return undefined;
  }
  if (system === LOINC && code === '1558-6' && input.kind === 'binary') {
    // fasting glucose above 120 mg/dL (6.7 mmol/L)
    const o = latest.get(`${LOINC}|1558-6`);
    const q = o?.valueQuantity;
    if (!o || typeof q?.value !== 'number') return undefined;
    const unit = q.code ?? q.unit;
    const mgdl = unit === 'mmol/L' ? q.value * 18.016 : unit === 'g/L' ? q.value * 100 : unit === 'mg/dL' || unit === undefined ? q.value : undefined;
    if (mgdl === undefined) {
      problems.push(`${input.name}: glucose unit "${unit}" cannot be converted to mg/dL; treated as missing`);
      return undefined;
    }
    return { value: mgdl > 120 ? 1 : 0, from: ref(o), at: when(o) };
  }
  if (system === LOINC && code === '80288-4') {
    const o = [latest.get(`${LOINC}|80288-4`), latest.get(`${LOINC}|67775-7`)].filter((x): x is Observation => !!x).sort((a, b) => when(b) - when(a))[0];
    if (!o) return undefined;
    const text = `${o.valueCodeableConcept?.text ?? ''} ${(o.valueCodeableConcept?.coding ?? []).map((c) => `${c.code} ${c.display}`).join(' ')} ${o.valueString ?? ''}`.toLowerCase();
    if (!text.trim()) return undefined;
    return { value: /\balert\b|LA9340-6/i.test(text) && !/confus|voice|pain|unresponsive/.test(text) ? 0 : 1, from: ref(o), at: when(o) };
  }
  if (code === 'supplemental-oxygen') {
    const flow = latest.get(`${LOINC}|3151-8`);
    const fio2 = latest.get(`${LOINC}|3150-0`);
    if (typeof flow?.valueQuantity?.value === 'number') return { value: flow.valueQuantity.value > 0 ? 1 : 0, from: ref(flow), at: when(flow) };
    if (typeof fio2?.valueQuantity?.value === 'number') return { value: fio2.valueQuantity.value > 21 ? 1 : 0, from: ref(fio2), at: when(fio2) };
    return undefined;
  }
  // The latest among the input's code and its alternatives (a value may sit in a panel's component).
  const codes = [input.code, ...(input.alternativeCodes ?? [])];
  const found = codes
    .map((c) => ({ c, o: latest.get(`${c.system}|${c.code}`) }))
    .filter((x): x is { c: typeof x.c; o: Observation } => !!x.o)
    .sort((a, b) => when(b.o) - when(a.o))[0];
  if (!found) return undefined;
  const o = found.o;
  const raw = observationValue(o, found.c.system, found.c.code);
  if (raw === undefined) return undefined;
  const converted = convert(raw.value, raw.unit, input.unit, found.c.system === LOINC ? found.c.code : undefined);
  if (converted === undefined) {
    problems.push(`${input.name}: unit "${raw.unit}" cannot be converted to ${input.unit}; treated as missing`);
    return undefined;
  }
  return { value: converted, from: ref(o), at: when(o) };
}

function observationValue(o: Observation, system: string | undefined, code: string | undefined): { value: number; unit?: string } | undefined {
  const component = o.component?.find((c) => c.code?.coding?.some((x) => x.system === system && x.code === code));
  const holder = component ?? o;
  if (typeof holder.valueQuantity?.value === 'number') return { value: holder.valueQuantity.value, unit: holder.valueQuantity.code ?? holder.valueQuantity.unit };
  if (typeof holder.valueInteger === 'number') return { value: holder.valueInteger };
  if (typeof holder.valueBoolean === 'boolean') return { value: holder.valueBoolean ? 1 : 0 };
  const coded = codedNumber(holder.valueCodeableConcept);
  return coded === undefined ? undefined : { value: coded };
}

/** Local codes of categorical inputs are their numbers (1-4...). */
function codedNumber(cc: CodeableConcept | undefined): number | undefined {
  for (const c of cc?.coding ?? []) if (c.code && /^-?\d+(\.\d+)?$/.test(c.code)) return Number(c.code);
  return undefined;
}

/**
 * The value in UCUM unit `to`, from `from` (either absent or the same: unchanged; UCUM annotations
 * such as `{beats}` are ignored); undefined when it cannot be converted here. `loinc`, the
 * analyte's LOINC code, lets a molar concentration convert to a mass one (MG_DL_PER_MMOL_L).
 */
export function convert(value: number, from: string | undefined, to: string | undefined, loinc?: string): number | undefined {
  if (!to || !from || from === to || to === '1') return value;
  const [f, t] = [bare(from), bare(to)];
  if (f === t) return value;
  const listed = CONVERSIONS[t]?.[f] ?? CONVERSIONS[to]?.[from];
  if (listed) return listed(value);
  if (RATE_PER_SECOND[f] !== undefined && RATE_PER_SECOND[t] !== undefined) return (value * RATE_PER_SECOND[f]) / RATE_PER_SECOND[t];
  const factor = loinc ? MG_DL_PER_MMOL_L[loinc] : undefined;
  if (factor !== undefined && f === 'mmol/L' && t === 'mg/dL') return value * factor;
  if (factor !== undefined && f === 'mg/dL' && t === 'mmol/L') return value / factor;
  return undefined;
}

/** A UCUM unit without its annotations (`{beats}/min` is `/min`) and with `1/x` written `/x`. */
function bare(unit: string): string {
  const plain = unit.replace(/\{[^}]*\}/g, '');
  return plain.startsWith('1/') ? plain.slice(1) : plain;
}

function ref(o: Observation): Reference {
  return { reference: `Observation/${o.id}` };
}
