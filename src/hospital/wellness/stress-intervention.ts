import type { Reading } from '../../fhir/projection/mappers/observation.mapper';

/**
 * The stress-intervention rule, version 1 (`stress-intervention/1`): whether a stress reading
 * suggests an intervention. Readings are first put on one 0..1 scale (stressScore):
 * - LOINC 106860-0 PSS-10 total score: 0..40, divided by 40;
 * - LOINC 93038-8 Stress level, answered from its LOINC answer list: Not at all (LA6568-5) 0,
 *   A little bit (LA13863-8) 0.25, Somewhat (LA13909-9) 0.5, Quite a bit (LA13902-4) 0.75,
 *   Very much (LA13914-9) 1 (the answer's text is accepted when it carries no code);
 * - SNOMED CT 73595000 Stress (finding) from a wearable: a 0..100 device stress score, divided by 100.
 * Anything else (out of range, other units or types) has no score: the decision says it was not
 * scored (and why), never "not suggested", which would read as low stress.
 * An intervention is suggested when either
 * - HIGH: the score is ≥ 0.75 (PSS-10 ≥ 30, "Quite a bit" or more, a device score ≥ 75), or
 * - RISING: with the patient's previous TREND_READINGS − 1 scored readings (taken before this one),
 *   the last TREND_READINGS scores rise strictly at each step and by ≥ 0.2 in all (e.g. 40 → 50 → 62).
 */
export const STRESS_RULE_VERSION = 'stress-intervention/1';
export const HIGH_STRESS = 0.75;
export const TREND_READINGS = 3;
export const TREND_MIN_RISE = 0.2;

const LOINC = 'http://loinc.org';
const SNOMED_CT = 'http://snomed.info/sct';

const STRESS_LEVEL_ANSWERS: ReadonlyArray<[code: string, text: string, score: number]> = [
  ['LA6568-5', 'not at all', 0],
  ['LA13863-8', 'a little bit', 0.25],
  ['LA13909-9', 'somewhat', 0.5],
  ['LA13902-4', 'quite a bit', 0.75],
  ['LA13914-9', 'very much', 1],
];

/** A stress reading (as the stress_data projection keeps it) on the 0..1 scale, or undefined. */
export function stressScore(r: Reading): number | undefined {
  const n = typeof r.value === 'number' && Number.isFinite(r.value) ? r.value : undefined;
  if (r.system === LOINC && r.code === '106860-0') return n !== undefined && n >= 0 && n <= 40 ? n / 40 : undefined;
  if (r.system === SNOMED_CT && r.code === '73595000') return n !== undefined && n >= 0 && n <= 100 && (!r.unit || r.unit === '%' || r.unit === '{score}') ? n / 100 : undefined;
  if (r.system === LOINC && r.code === '93038-8' && r.type === 'CodeableConcept') {
    const byCode = STRESS_LEVEL_ANSWERS.find(([code]) => r.valueSystem === LOINC && r.valueCode === code);
    const byText = typeof r.value === 'string' ? STRESS_LEVEL_ANSWERS.find(([, text]) => text === (r.value as string).trim().toLowerCase()) : undefined;
    return (byCode ?? (r.valueCode ? undefined : byText))?.[2];
  }
  return undefined;
}

export interface InterventionDecision {
  suggested: boolean;
  reason?: string;
  /** The reading could not be put on the scale: nothing is known about the stress it shows. */
  unscored?: boolean;
}

/** Why a stress reading has no score (its value, unit or answer is outside what the rule reads). Pure. */
export function unscoredReason(r: Reading): string {
  const value = r.valueCode ? `${r.valueSystem ?? ''}|${r.valueCode}` : typeof r.value === 'number' || typeof r.value === 'string' ? String(r.value).slice(0, 64) : 'no value';
  const scale =
    r.code === '106860-0' ? 'a PSS-10 total of 0..40' : r.code === '73595000' ? 'a device score of 0..100 (unit %, {score} or none)' : r.code === '93038-8' ? 'an answer from the LOINC stress-level list' : 'a known stress code';
  return `not scored: ${value}${r.unit ? ` ${r.unit}` : ''} is not ${scale}`;
}

/**
 * The rule on one reading's score and the scores of the patient's previous readings (oldest first;
 * only the last TREND_READINGS − 1 matter). Pure.
 */
export function interventionDecision(score: number | undefined, previous: readonly number[], params: StressParameters = STRESS_PARAMETERS): InterventionDecision {
  const { highStress, trendReadings, trendMinRise } = params;
  if (score === undefined) return { suggested: false, unscored: true };
  if (score >= highStress) return { suggested: true, reason: `high stress: ${fmt(score)} ≥ ${highStress}` };
  const series = [...previous.slice(-(trendReadings - 1)), score];
  if (series.length === trendReadings && series.every((s, i) => i === 0 || s > series[i - 1]) && score - series[0] >= trendMinRise - 1e-9) {
    return { suggested: true, reason: `rising stress over ${trendReadings} readings: ${series.map(fmt).join(' → ')}` };
  }
  return { suggested: false };
}

export interface StressParameters {
  highStress: number;
  trendReadings: number;
  trendMinRise: number;
}
export const STRESS_PARAMETERS: StressParameters = { highStress: HIGH_STRESS, trendReadings: TREND_READINGS, trendMinRise: TREND_MIN_RISE };

const fmt = (n: number) => String(Math.round(n * 100) / 100);
