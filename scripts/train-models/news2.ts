import { Prng } from './prng';

/**
 * NEWS2 (Royal College of Physicians, National Early Warning Score 2, 2017; Chart 1) and the
 * synthetic vital signs the triage model learns from. NEWS2 is © Royal College of Physicians,
 * used with acknowledgement and without modifying the chart. Only SpO2 scale 1 is used: scale 2
 * (for patients with hypercapnic respiratory failure) needs a clinician's decision that the
 * inputs do not carry.
 */

export interface Vitals {
  /** breaths/min */
  respiratoryRate: number;
  /** % (scale 1) */
  spo2: number;
  /** 1 = on supplemental oxygen, 0 = air */
  onOxygen: 0 | 1;
  /** mm[Hg] */
  systolicBp: number;
  /** beats/min */
  pulse: number;
  /** 0 = Alert; 1 = new Confusion, Voice, Pain or Unresponsive (ACVPU other than A) */
  consciousness: 0 | 1;
  /** Cel */
  temperature: number;
}

export const VITAL_KEYS = ['respiratoryRate', 'spo2', 'onOxygen', 'systolicBp', 'pulse', 'consciousness', 'temperature'] as const;

export interface News2Result {
  /** Score of each parameter (0-3), in VITAL_KEYS order. */
  parameters: Record<(typeof VITAL_KEYS)[number], number>;
  total: number;
  /** Some single parameter scored 3 (the chart's "red score"). */
  redScore: boolean;
}

/*
 * Chart 1 bands are written for whole numbers (temperature to one decimal); a value between two
 * bands goes to the band below the boundary it does not exceed (e.g. respiration 20.5 scores as
 * 21-24), i.e. each band is (previous upper limit, upper limit].
 */
export function scoreRespiration(rr: number): number {
  if (rr <= 8) return 3;
  if (rr <= 11) return 1;
  if (rr <= 20) return 0;
  if (rr <= 24) return 2;
  return 3;
}

export function scoreSpo2Scale1(spo2: number): number {
  if (spo2 <= 91) return 3;
  if (spo2 <= 93) return 2;
  if (spo2 <= 95) return 1;
  return 0;
}

export function scoreOxygen(onOxygen: number): number {
  return onOxygen ? 2 : 0;
}

export function scoreSystolic(sbp: number): number {
  if (sbp <= 90) return 3;
  if (sbp <= 100) return 2;
  if (sbp <= 110) return 1;
  if (sbp <= 219) return 0;
  return 3;
}

export function scorePulse(hr: number): number {
  if (hr <= 40) return 3;
  if (hr <= 50) return 1;
  if (hr <= 90) return 0;
  if (hr <= 110) return 1;
  if (hr <= 130) return 2;
  return 3;
}

export function scoreConsciousness(cvpu: number): number {
  return cvpu ? 3 : 0;
}

export function scoreTemperature(t: number): number {
  if (t <= 35.0) return 3;
  if (t <= 36.0) return 1;
  if (t <= 38.0) return 0;
  if (t <= 39.0) return 1;
  return 2;
}

export function news2(v: Vitals): News2Result {
  const parameters = {
    respiratoryRate: scoreRespiration(v.respiratoryRate),
    spo2: scoreSpo2Scale1(v.spo2),
    onOxygen: scoreOxygen(v.onOxygen),
    systolicBp: scoreSystolic(v.systolicBp),
    pulse: scorePulse(v.pulse),
    consciousness: scoreConsciousness(v.consciousness),
    temperature: scoreTemperature(v.temperature),
  };
  const scores = Object.values(parameters);
  return { parameters, total: scores.reduce((a, b) => a + b, 0), redScore: scores.some((s) => s === 3) };
}

/**
 * Priority 1 (most urgent) to 5, in the direction of ESI and the Manchester Triage System, from
 * NEWS2's clinical-risk bands:
 *   aggregate >= 7                              -> 1 (high risk: emergency response)
 *   aggregate 5-6, or any single parameter 3    -> 2 (medium / low-medium risk: urgent response)
 *   aggregate 3-4                               -> 3
 *   aggregate 1-2                               -> 4
 *   aggregate 0                                 -> 5
 */
export function priorityFromNews2(r: Pick<News2Result, 'total' | 'redScore'>): 1 | 2 | 3 | 4 | 5 {
  if (r.total >= 7) return 1;
  if (r.total >= 5 || r.redScore) return 2;
  if (r.total >= 3) return 3;
  if (r.total >= 1) return 4;
  return 5;
}

export function triagePriority(v: Vitals): 1 | 2 | 3 | 4 | 5 {
  return priorityFromNews2(news2(v));
}

/** A profile of the synthetic population: a weight and how to draw one person's vitals. */
interface Profile {
  name: string;
  weight: number;
  draw(p: Prng): Vitals;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const whole = (x: number, lo: number, hi: number) => Math.round(clamp(x, lo, hi));
const tenth = (x: number, lo: number, hi: number) => Math.round(clamp(x, lo, hi) * 10) / 10;

function vitals(p: Prng, o: { rr: [number, number]; spo2: [number, number]; o2: number; sbp: [number, number]; hr: [number, number]; cvpu: number; temp: [number, number] }): Vitals {
  return {
    respiratoryRate: whole(p.normal(...o.rr), 4, 60),
    spo2: whole(p.normal(...o.spo2), 60, 100),
    onOxygen: p.chance(o.o2) ? 1 : 0,
    systolicBp: whole(p.normal(...o.sbp), 50, 260),
    pulse: whole(p.normal(...o.hr), 25, 220),
    consciousness: p.chance(o.cvpu) ? 1 : 0,
    temperature: tenth(p.normal(...o.temp), 32, 42.5),
  };
}

/**
 * The mixture the synthetic vitals come from: well adults, mildly and moderately unwell, sepsis-like,
 * respiratory, circulatory (shock, brady- and tachyarrhythmia), neurological, isolated single-parameter abnormalities
 * (NEWS2's red-score rule), and a uniform "coverage" component that spreads values over the whole plausible range so that the model sees
 * every band of every parameter. Plausible, not epidemiological: the proportions are chosen so
 * that each priority is well represented, not to match any emergency department.
 */
export const PROFILES: Profile[] = [
  { name: 'well', weight: 26, draw: (p) => vitals(p, { rr: [15, 2], spo2: [97.6, 1.2], o2: 0.01, sbp: [126, 14], hr: [75, 11], cvpu: 0.003, temp: [36.8, 0.35] }) },
  { name: 'mildly unwell', weight: 22, draw: (p) => vitals(p, { rr: [18.5, 3.5], spo2: [95.5, 2], o2: 0.06, sbp: [122, 18], hr: [90, 14], cvpu: 0.02, temp: [37.4, 0.75] }) },
  { name: 'moderately unwell', weight: 16, draw: (p) => vitals(p, { rr: [21, 3], spo2: [94.5, 1.8], o2: 0.12, sbp: [112, 14], hr: [100, 12], cvpu: 0.02, temp: [37.9, 0.7] }) },
  {
    name: 'sepsis-like',
    weight: 8,
    draw: (p) => {
      const hypothermic = p.chance(0.15);
      return vitals(p, { rr: [24, 5], spo2: [93.5, 3], o2: 0.35, sbp: [98, 18], hr: [112, 18], cvpu: 0.2, temp: hypothermic ? [35.3, 0.6] : [38.7, 0.8] });
    },
  },
  { name: 'respiratory', weight: 8, draw: (p) => vitals(p, { rr: [25, 6], spo2: [90, 4], o2: 0.6, sbp: [132, 20], hr: [104, 15], cvpu: 0.08, temp: [37.6, 0.9] }) },
  {
    name: 'circulatory',
    weight: 6,
    draw: (p) => {
      const kind = p.pick([2, 1, 1]); // shock, bradycardia, tachyarrhythmia
      const hr: [number, number] = kind === 1 ? [42, 7] : kind === 2 ? [145, 18] : [118, 15];
      return vitals(p, { rr: [22, 5], spo2: [94, 3], o2: 0.4, sbp: kind === 0 ? [84, 14] : [112, 25], hr, cvpu: 0.15, temp: [36.6, 0.6] });
    },
  },
  { name: 'neurological', weight: 3, draw: (p) => vitals(p, { rr: [15, 5], spo2: [95, 3], o2: 0.2, sbp: [158, 35], hr: [74, 18], cvpu: 0.7, temp: [37, 0.8] }) },
  {
    // Well but for one parameter in an extreme band: NEWS2's single-parameter ("red score") rule.
    name: 'isolated abnormality',
    weight: 8,
    draw: (p) => {
      const v = vitals(p, { rr: [15, 2], spo2: [97.6, 1.2], o2: 0, sbp: [126, 14], hr: [75, 11], cvpu: 0, temp: [36.8, 0.35] });
      switch (p.int(7)) {
        case 0:
          return { ...v, respiratoryRate: p.chance(0.5) ? Math.round(p.uniform(4, 9)) : Math.round(p.uniform(24, 40)) };
        case 1:
          return { ...v, spo2: Math.round(p.uniform(80, 93)) };
        case 2:
          return { ...v, onOxygen: 1 };
        case 3:
          return { ...v, systolicBp: p.chance(0.5) ? Math.round(p.uniform(60, 92)) : Math.round(p.uniform(215, 250)) };
        case 4:
          return { ...v, pulse: p.chance(0.4) ? Math.round(p.uniform(28, 42)) : Math.round(p.uniform(128, 180)) };
        case 5:
          return { ...v, consciousness: 1 };
        default:
          return { ...v, temperature: p.chance(0.5) ? Math.round(p.uniform(33, 35.3) * 10) / 10 : Math.round(p.uniform(38.8, 41) * 10) / 10 };
      }
    },
  },
  {
    name: 'coverage',
    weight: 9,
    draw: (p) => ({
      respiratoryRate: Math.round(p.uniform(5, 40)),
      spo2: Math.round(p.uniform(78, 100)),
      onOxygen: p.chance(0.4) ? 1 : 0,
      systolicBp: Math.round(p.uniform(65, 235)),
      pulse: Math.round(p.uniform(30, 175)),
      consciousness: p.chance(0.2) ? 1 : 0,
      temperature: Math.round(p.uniform(33.5, 40.8) * 10) / 10,
    }),
  },
];

export interface SyntheticVitals extends Vitals {
  profile: string;
  news2: number;
  priority: 1 | 2 | 3 | 4 | 5;
}

/** n people drawn from PROFILES with a seeded generator, each labelled with NEWS2 and its priority. */
export function generateVitals(n: number, seed: number): SyntheticVitals[] {
  const p = new Prng(seed);
  const weights = PROFILES.map((x) => x.weight);
  const out: SyntheticVitals[] = [];
  for (let i = 0; i < n; i++) {
    const profile = PROFILES[p.pick(weights)];
    const v = profile.draw(p);
    const r = news2(v);
    out.push({ ...v, profile: profile.name, news2: r.total, priority: priorityFromNews2(r) });
  }
  return out;
}

export function vitalsVector(v: Vitals): number[] {
  return VITAL_KEYS.map((k) => v[k]);
}
