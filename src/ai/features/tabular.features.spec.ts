import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Observation, Patient } from '@medplum/fhirtypes';
import type { ModelManifest } from '../model-manifest';
import { buildTabularInput, implausibility, tabularObservationCodes } from './tabular.features';

const ROOT = path.resolve(__dirname, '../../..');
const manifestOf = (name: string) => JSON.parse(readFileSync(path.join(ROOT, 'models', name, 'manifest.json'), 'utf8')) as ModelManifest;

const cad = manifestOf('cad-cleveland');
const triage = manifestOf('triage-news2');
const wdbc = manifestOf('breast-wdbc');

const LOINC = 'http://loinc.org';
const CLEVELAND = 'urn:fhir-ai-server:cleveland';
const NOW = new Date('2024-06-01T12:00:00Z');

const patient = (over: Partial<Patient> = {}): Patient => ({ resourceType: 'Patient', id: 'p1', birthDate: '1960-03-15', gender: 'male', ...over });

let seq = 0;
/** An Observation of one code; `value` is merged in (valueQuantity, valueInteger...). */
function obs(system: string, code: string, value: Partial<Observation>, over: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    id: `o${++seq}`,
    status: 'final',
    code: { coding: [{ system, code }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2024-05-01T08:00:00Z',
    ...value,
    ...over,
  };
}
const qty = (value: number, code: string) => ({ valueQuantity: { value, unit: code, system: 'http://unitsofmeasure.org', code } });
const loinc = (code: string, value: Partial<Observation>, over: Partial<Observation> = {}) => obs(LOINC, code, value, over);
const local = (code: string, value: Partial<Observation>, over: Partial<Observation> = {}) => obs(CLEVELAND, code, value, over);

const refs = (o: Array<Observation | Patient>) => o.map((r) => `${r.resourceType}/${r.id}`).sort();
const basisOf = (t: { basis: Array<{ reference?: string }> }) => t.basis.map((r) => r.reference).sort();

/** Every CAD input known: 11 Observations and the Patient. */
function fullCad() {
  const o = {
    chest: local('chest-pain-type', { valueInteger: 4 }),
    sbp: loinc('8480-6', qty(145, 'mm[Hg]')),
    chol: loinc('2093-3', qty(233, 'mg/dL')),
    glucose: loinc('1558-6', qty(130, 'mg/dL')),
    ecg: local('resting-ecg', { valueInteger: 2 }),
    maxHr: local('max-heart-rate-exercise', qty(150, '/min')),
    angina: local('exercise-induced-angina', { valueBoolean: false }),
    st: local('st-depression-exercise', qty(2.3, 'mm')),
    slope: local('st-slope-peak-exercise', { valueInteger: 3 }),
    vessels: local('fluoroscopy-major-vessels', { valueInteger: 0 }),
    thal: local('thallium-scan', { valueCodeableConcept: { coding: [{ system: CLEVELAND, code: '6', display: 'fixed defect' }] } }),
  };
  return { o, list: Object.values(o) };
}

/** Every triage input known: seven vital signs (SpO2, oxygen flow, ...). */
function fullTriage() {
  const o = {
    rr: loinc('9279-1', qty(22, '/min')),
    spo2: loinc('59408-5', qty(93, '%')),
    flow: loinc('3151-8', qty(2, 'L/min')),
    bp: loinc('85354-9', {
      component: [
        { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 105, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: { value: 70, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
      ],
    }),
    hr: loinc('8867-4', qty(112, '/min')),
    avpu: loinc('80288-4', { valueCodeableConcept: { text: 'Alert' } }),
    temp: loinc('8310-5', qty(38.4, 'Cel')),
  };
  return { o, list: Object.values(o) };
}

describe('the real manifests', () => {
  it('are the ones these specs are written against', () => {
    expect(cad.inputs.map((i) => i.name)).toEqual([
      'age',
      'sex',
      'chest_pain_type',
      'resting_systolic_bp',
      'serum_cholesterol',
      'fasting_glucose_gt_120',
      'resting_ecg',
      'max_heart_rate',
      'exercise_angina',
      'st_depression',
      'st_slope',
      'major_vessels',
      'thal',
    ]);
    expect(cad.minRealInputs).toBe(8);
    expect(triage.inputs.map((i) => i.name)).toEqual(['respiratory_rate', 'spo2', 'supplemental_oxygen', 'systolic_bp', 'pulse_rate', 'consciousness', 'temperature']);
    expect(triage.minRealInputs).toBe(5);
  });
});

describe('tabularObservationCodes', () => {
  const codesOf = (o: Observation) => [...(o.code?.coding ?? []), ...(o.component ?? []).flatMap((c) => c.code?.coding ?? [])].map((c) => c.code);
  const only = (list: Observation[], codes: string[]) => list.filter((o) => codesOf(o).some((c) => codes.includes(c as string)));
  const unrelated = [loinc('2339-0', qty(95, 'mg/dL')), loinc('718-7', qty(14, 'g/dL')), local('something-else', { valueInteger: 1 })];

  it('names every code buildTabularInput reads: the input is the same from those Observations alone', () => {
    for (const [manifest, list] of [
      [cad, fullCad().list],
      [triage, fullTriage().list],
      [triage, [...fullTriage().list.filter((o) => !codesOf(o).includes('80288-4')), loinc('67775-7', { valueCodeableConcept: { text: 'Confused' } })]],
      [triage, [...fullTriage().list.filter((o) => !codesOf(o).includes('3151-8')), loinc('3150-0', qty(40, '%'))]],
    ] as Array<[ModelManifest, Observation[]]>) {
      const all = [...list, ...unrelated];
      const codes = tabularObservationCodes(manifest);
      expect(only(all, codes)).toHaveLength(list.length);
      expect(buildTabularInput(manifest, patient(), only(all, codes), NOW)).toEqual(buildTabularInput(manifest, patient(), all, NOW));
    }
  });

  it('includes the alternatives and the stand-ins, not the demographics only known from the Patient', () => {
    const codes = tabularObservationCodes(triage);
    expect(codes).toEqual(expect.arrayContaining(['59408-5', '2708-6', '3151-8', '3150-0', '80288-4', '67775-7', '8480-6']));
    expect(tabularObservationCodes(cad)).toEqual(expect.arrayContaining(['8480-6', '2093-3', '1558-6', 'chest-pain-type', 'thallium-scan']));
  });
});

describe('buildTabularInput: a complete record', () => {
  it('reads every CAD input, with the Patient and each Observation once in the basis', () => {
    const { list } = fullCad();
    const p = patient();
    const t = buildTabularInput(cad, p, list, NOW);
    expect(t.values).toEqual({
      age: 64,
      sex: 1,
      chest_pain_type: 4,
      resting_systolic_bp: 145,
      serum_cholesterol: 233,
      fasting_glucose_gt_120: 1,
      resting_ecg: 2,
      max_heart_rate: 150,
      exercise_angina: 0,
      st_depression: 2.3,
      st_slope: 3,
      major_vessels: 0,
      thal: 6,
    });
    expect(t.imputed).toEqual([]);
    expect(t.problems).toEqual([]);
    expect(t.enough).toBe(true);
    // age and sex both come from the Patient: it is listed once
    expect(t.basis).toHaveLength(12);
    expect(basisOf(t)).toEqual(refs([p, ...list]));
    for (const r of t.basis) expect(Object.keys(r)).toEqual(['reference']);
  });

  it('reads every triage input, the systolic pressure from a blood-pressure panel', () => {
    const { o, list } = fullTriage();
    const t = buildTabularInput(triage, undefined, list, NOW);
    expect(t.values).toEqual({ respiratory_rate: 22, spo2: 93, supplemental_oxygen: 1, systolic_bp: 105, pulse_rate: 112, consciousness: 0, temperature: 38.4 });
    expect(t.imputed).toEqual([]);
    expect(t.problems).toEqual([]);
    expect(t.enough).toBe(true);
    expect(basisOf(t)).toEqual(refs(list));
    expect(basisOf(t)).toContain(`Observation/${o.bp.id}`);
  });
});

describe('buildTabularInput: age and sex from the Patient', () => {
  const ageAt = (birthDate: string, now: Date) => buildTabularInput(cad, patient({ birthDate }), [], now).values.age;

  it('gives the age in whole years at the given time', () => {
    expect(ageAt('1960-03-15', NOW)).toBe(64);
    expect(ageAt('1980-05-20', new Date('2024-03-01T00:00:00Z'))).toBe(43);
    expect(ageAt('2000-01-01', new Date('2000-12-31T00:00:00Z'))).toBe(0);
  });

  it('does not count a year before the birthday (day before the 54th birthday → 53)', () => {
    expect(ageAt('1970-06-15', new Date('2024-06-14T12:00:00Z'))).toBe(53);
  });

  it('counts the year from the birthday on (63rd birthday, midnight UTC → 63)', () => {
    expect(ageAt('1961-01-01', new Date('2024-01-01T00:00:00Z'))).toBe(63);
  });

  it('leaves the age missing without a Patient, a birth date, or with a birth date in the future', () => {
    for (const p of [undefined, patient({ birthDate: undefined }), patient({ birthDate: '2030-01-01' })]) {
      const t = buildTabularInput(cad, p, [], NOW);
      expect(t.values.age).toBeNaN();
      expect(t.imputed).toContain('age');
    }
  });

  it('codes sex from gender: male 1, female 0, other or unknown missing', () => {
    expect(buildTabularInput(cad, patient({ gender: 'male' }), [], NOW).values.sex).toBe(1);
    expect(buildTabularInput(cad, patient({ gender: 'female' }), [], NOW).values.sex).toBe(0);
    for (const gender of ['other', 'unknown', undefined] as const) {
      const t = buildTabularInput(cad, patient({ gender }), [], NOW);
      expect(t.values.sex).toBeNaN();
      expect(t.imputed).toContain('sex');
      expect(t.imputed).not.toContain('age');
    }
  });

  it('lists the Patient in the basis only when it gave a value', () => {
    expect(basisOf(buildTabularInput(cad, patient(), [], NOW))).toEqual(['Patient/p1']);
    expect(buildTabularInput(cad, patient({ birthDate: undefined, gender: 'unknown' }), [], NOW).basis).toEqual([]);
  });
});

describe('buildTabularInput: which Observation counts', () => {
  it('takes the latest Observation of a code, by effectiveDateTime, whatever the order given', () => {
    const old = loinc('2093-3', qty(300, 'mg/dL'), { effectiveDateTime: '2023-01-01T00:00:00Z' });
    const recent = loinc('2093-3', qty(200, 'mg/dL'), { effectiveDateTime: '2024-04-01T00:00:00Z' });
    const middle = loinc('2093-3', qty(250, 'mg/dL'), { effectiveDateTime: '2023-06-01T00:00:00Z' });
    for (const order of [
      [old, recent, middle],
      [recent, middle, old],
      [middle, old, recent],
    ]) {
      const t = buildTabularInput(cad, undefined, order, NOW);
      expect(t.values.serum_cholesterol).toBe(200);
      expect(basisOf(t)).toEqual([`Observation/${recent.id}`]);
    }
  });

  it('compares effective times as instants, not as text (time-zone offsets)', () => {
    // 10:00+02:00 is 08:00Z: the 09:00Z reading is the later one
    const earlier = loinc('8867-4', qty(80, '/min'), { effectiveDateTime: '2024-05-01T10:00:00+02:00' });
    const later = loinc('8867-4', qty(120, '/min'), { effectiveDateTime: '2024-05-01T09:00:00Z' });
    expect(buildTabularInput(triage, undefined, [later, earlier], NOW).values.pulse_rate).toBe(120);
    expect(buildTabularInput(triage, undefined, [earlier, later], NOW).values.pulse_rate).toBe(120);
  });

  it('ignores entered-in-error (and cancelled) Observations, even when they are the latest', () => {
    const good = loinc('2093-3', qty(200, 'mg/dL'), { effectiveDateTime: '2024-01-01T00:00:00Z' });
    const wrong = loinc('2093-3', qty(400, 'mg/dL'), { effectiveDateTime: '2024-05-01T00:00:00Z', status: 'entered-in-error' });
    const cancelled = loinc('2093-3', qty(450, 'mg/dL'), { effectiveDateTime: '2024-05-02T00:00:00Z', status: 'cancelled' });
    const t = buildTabularInput(cad, undefined, [good, wrong, cancelled], NOW);
    expect(t.values.serum_cholesterol).toBe(200);
    expect(basisOf(t)).toEqual([`Observation/${good.id}`]);

    const only = buildTabularInput(cad, undefined, [wrong], NOW);
    expect(only.values.serum_cholesterol).toBeNaN();
    expect(only.imputed).toContain('serum_cholesterol');
    expect(only.basis).toEqual([]);
  });

  it('ignores an Observation with the right code under another system', () => {
    const t = buildTabularInput(cad, undefined, [obs('http://example.org/codes', '2093-3', qty(200, 'mg/dL'))], NOW);
    expect(t.values.serum_cholesterol).toBeNaN();
  });

  it('finds the systolic pressure as the 8480-6 component of a blood-pressure panel (85354-9)', () => {
    const panel = loinc('85354-9', {
      component: [
        { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: { value: 88, code: 'mm[Hg]' } },
        { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 152, code: 'mm[Hg]' } },
      ],
    });
    const t = buildTabularInput(cad, undefined, [panel], NOW);
    expect(t.values.resting_systolic_bp).toBe(152);
    expect(basisOf(t)).toEqual([`Observation/${panel.id}`]);
  });

  it('takes the latest of the latest panels holding the code', () => {
    const old = loinc('85354-9', { component: [{ code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 170, code: 'mm[Hg]' } }] }, { effectiveDateTime: '2023-01-01T00:00:00Z' });
    const recent = loinc('85354-9', { component: [{ code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 118, code: 'mm[Hg]' } }] }, { effectiveDateTime: '2024-05-01T00:00:00Z' });
    expect(buildTabularInput(triage, undefined, [recent, old], NOW).values.systolic_bp).toBe(118);
    expect(buildTabularInput(triage, undefined, [old, recent], NOW).values.systolic_bp).toBe(118);
  });

  it('prefers a standalone 8480-6 Observation when it is the more recent reading', () => {
    const panel = loinc('85354-9', { component: [{ code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 170, code: 'mm[Hg]' } }] }, { effectiveDateTime: '2024-01-01T00:00:00Z' });
    const single = loinc('8480-6', qty(120, 'mm[Hg]'), { effectiveDateTime: '2024-05-01T00:00:00Z' });
    expect(buildTabularInput(triage, undefined, [panel, single], NOW).values.systolic_bp).toBe(120);
  });

  it('takes the most recent systolic pressure, even when a newer panel follows an older standalone reading', () => {
    // manifest: "Observation 8480-6 (or the 8480-6 component of a blood-pressure panel 85354-9), valueQuantity (most recent)"
    const single = loinc('8480-6', qty(120, 'mm[Hg]'), { effectiveDateTime: '2023-01-01T00:00:00Z' });
    const panel = loinc('85354-9', { component: [{ code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 82, code: 'mm[Hg]' } }] }, { effectiveDateTime: '2024-05-01T00:00:00Z' });
    const t = buildTabularInput(triage, undefined, [single, panel], NOW);
    expect(t.values.systolic_bp).toBe(82);
    expect(basisOf(t)).toEqual([`Observation/${panel.id}`]);
  });

  it("reads SpO2 recorded under the manifest's alternative code 2708-6", () => {
    // manifest: spo2 "Observation 59408-5 or 2708-6" (alternativeCodes)
    const t = buildTabularInput(triage, undefined, [loinc('2708-6', qty(88, '%'))], NOW);
    expect(t.values.spo2).toBe(88);
    expect(t.imputed).not.toContain('spo2');
  });
});

describe('buildTabularInput: value types', () => {
  it('reads valueInteger, valueBoolean and numeric local codes of a valueCodeableConcept', () => {
    const t = buildTabularInput(
      cad,
      undefined,
      [
        local('chest-pain-type', { valueInteger: 2 }),
        local('exercise-induced-angina', { valueBoolean: true }),
        local('thallium-scan', { valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: 'not-a-number' }, { system: CLEVELAND, code: '7' }], text: 'reversible defect' } }),
        local('resting-ecg', { valueCodeableConcept: { coding: [{ system: CLEVELAND, code: '1' }] } }),
      ],
      NOW,
    );
    expect(t.values).toMatchObject({ chest_pain_type: 2, exercise_angina: 1, thal: 7, resting_ecg: 1 });
    expect(buildTabularInput(cad, undefined, [local('exercise-induced-angina', { valueBoolean: false })], NOW).values.exercise_angina).toBe(0);
  });

  it('treats a coded value without a numeric code, or an Observation without a value, as missing', () => {
    const t = buildTabularInput(
      cad,
      undefined,
      [local('thallium-scan', { valueCodeableConcept: { text: 'normal', coding: [{ system: CLEVELAND, code: 'normal' }] } }), local('chest-pain-type', {})],
      NOW,
    );
    expect(t.values.thal).toBeNaN();
    expect(t.values.chest_pain_type).toBeNaN();
    expect(t.imputed).toEqual(expect.arrayContaining(['thal', 'chest_pain_type']));
    expect(t.basis).toEqual([]);
    expect(t.problems).toEqual([]);
  });
});

describe('buildTabularInput: units', () => {
  it('converts °F to Cel for body temperature (8310-5)', () => {
    expect(buildTabularInput(triage, undefined, [loinc('8310-5', qty(98.6, '[degF]'))], NOW).values.temperature).toBeCloseTo(37, 6);
    expect(buildTabularInput(triage, undefined, [loinc('8310-5', qty(102.2, '[degF]'))], NOW).values.temperature).toBeCloseTo(39, 6);
  });

  it('converts kPa to mm[Hg]', () => {
    const t = buildTabularInput(cad, undefined, [loinc('8480-6', qty(16, 'kPa'))], NOW);
    expect(t.values.resting_systolic_bp).toBeCloseTo(120.01, 2);
    expect(t.problems).toEqual([]);
  });

  it('converts cholesterol in mmol/L to mg/dL', () => {
    expect(buildTabularInput(cad, undefined, [loinc('2093-3', qty(5, 'mmol/L'))], NOW).values.serum_cholesterol).toBeCloseTo(193.35, 6);
  });

  it('takes the unit from valueQuantity.unit when there is no code, and accepts UCUM synonyms of /min', () => {
    const t = buildTabularInput(triage, undefined, [loinc('8867-4', { valueQuantity: { value: 88, unit: 'beats/min' } }), loinc('9279-1', qty(18, '{breaths}/min'))], NOW);
    expect(t.values).toMatchObject({ pulse_rate: 88, respiratory_rate: 18 });
  });

  it('converts rates per second or per hour, and UCUM spellings with a 1 or an annotation, to /min', () => {
    const t = buildTabularInput(triage, undefined, [loinc('8867-4', qty(2.5, '/s')), loinc('9279-1', qty(1080, '{breaths}/h'))], NOW);
    expect(t.values.pulse_rate).toBeCloseTo(150, 9);
    expect(t.values.respiratory_rate).toBeCloseTo(18, 9);
    expect(t.problems).toEqual([]);
    expect(buildTabularInput(triage, undefined, [loinc('8867-4', qty(72, '1/min'))], NOW).values.pulse_rate).toBe(72);
    expect(buildTabularInput(triage, undefined, [loinc('59408-5', qty(96, '%{HemoglobinSaturation}'))], NOW).values.spo2).toBe(96);
  });

  it('converts a molar concentration only with its own analyte\'s molar mass: another analyte in mmol/L is refused, not read as cholesterol', () => {
    // A newly registered model reading triglycerides (2571-8) and an unlisted analyte, both in mg/dL.
    const manifest: ModelManifest = {
      ...cad,
      inputs: [
        { ...cad.inputs.find((i) => i.name === 'serum_cholesterol')!, name: 'triglycerides', code: { system: LOINC, code: '2571-8' } },
        { ...cad.inputs.find((i) => i.name === 'serum_cholesterol')!, name: 'urea', code: { system: LOINC, code: '3094-0' } },
      ],
    };
    const t = buildTabularInput(manifest, undefined, [loinc('2571-8', qty(2, 'mmol/L')), loinc('3094-0', qty(5, 'mmol/L'))], NOW);
    expect(t.values.triglycerides).toBeCloseTo(177.14, 6);
    expect(t.values.urea).toBeNaN();
    expect(t.problems).toEqual(['urea: unit "mmol/L" cannot be converted to mg/dL; treated as missing']);
  });

  it('refuses a unit it cannot convert: listed in problems, value NaN, imputed', () => {
    const o = loinc('2093-3', qty(2.3, 'g/L'));
    const t = buildTabularInput(cad, undefined, [o], NOW);
    expect(t.values.serum_cholesterol).toBeNaN();
    expect(t.imputed).toContain('serum_cholesterol');
    expect(t.problems).toEqual(['serum_cholesterol: unit "g/L" cannot be converted to mg/dL; treated as missing']);
    expect(t.basis).toEqual([]);
  });

  it('refuses implausible values: listed in problems, value NaN, imputed', () => {
    const t = buildTabularInput(
      triage,
      undefined,
      [
        loinc('8310-5', qty(98.6, 'Cel')), // a Fahrenheit figure labelled Cel
        loinc('59408-5', qty(150, '%')),
        loinc('8480-6', qty(1200, 'mm[Hg]')),
        loinc('8867-4', qty(-5, '/min')),
        loinc('9279-1', qty(18, '/min')),
      ],
      NOW,
    );
    expect(t.values.temperature).toBeNaN();
    expect(t.values.spo2).toBeNaN();
    expect(t.values.systolic_bp).toBeNaN();
    expect(t.values.pulse_rate).toBeNaN();
    expect(t.values.respiratory_rate).toBe(18);
    expect(t.imputed).toEqual(['spo2', 'supplemental_oxygen', 'systolic_bp', 'pulse_rate', 'consciousness', 'temperature']);
    expect(t.problems).toEqual([
      'spo2: 150 % is implausible (plausible: 0 to 100 %); treated as missing',
      'systolic_bp: 1200 mm[Hg] is implausible (plausible: 0 to 400 mm[Hg]); treated as missing',
      'pulse_rate: -5 /min is implausible (plausible: 0 to 400 /min); treated as missing',
      'temperature: 98.6 Cel is implausible (plausible: 20 to 46 Cel); treated as missing',
    ]);
    expect(t.basis).toHaveLength(1);
  });

  it('checks plausibility after conversion (120 °F is 48.9 Cel: refused)', () => {
    const t = buildTabularInput(triage, undefined, [loinc('8310-5', qty(120, '[degF]'))], NOW); // 48.9 Cel
    expect(t.values.temperature).toBeNaN();
    expect(t.problems).toHaveLength(1);
    expect(t.problems[0]).toMatch(/^temperature: 48\.8\d* Cel is implausible \(plausible: 20 to 46 Cel\); treated as missing$/);
  });
});

describe('buildTabularInput: age at the time of the inputs', () => {
  // The card: "Patient.birthDate: whole years at the time of the most recent other input".
  const at = (effectiveDateTime: string) => ({ effectiveDateTime });

  it('takes the age when the Observations were made, not today (born 1960-05-01, readings of 2000-06-01 → 40)', () => {
    const observations = [loinc('8480-6', qty(130, 'mm[Hg]'), at('2000-06-01T09:00:00Z')), loinc('2093-3', qty(240, 'mg/dL'), at('2000-06-01T09:00:00Z'))];
    const t = buildTabularInput(cad, patient({ birthDate: '1960-05-01' }), observations, new Date('2026-06-01T00:00:00Z'));
    expect(t.values.age).toBe(40);
  });

  it('uses the most recent input, counting a birthday on that day', () => {
    const observations = [loinc('8480-6', qty(130, 'mm[Hg]'), at('1999-01-01T09:00:00Z')), loinc('2093-3', qty(240, 'mg/dL'), at('2000-05-01T00:00:00Z'))];
    expect(buildTabularInput(cad, patient({ birthDate: '1960-05-01' }), observations, NOW).values.age).toBe(40);
    const dayBefore = [loinc('2093-3', qty(240, 'mg/dL'), at('2000-04-30T23:59:00Z'))];
    expect(buildTabularInput(cad, patient({ birthDate: '1960-05-01' }), dayBefore, NOW).values.age).toBe(39);
  });

  it('ignores refused values and Observations no input uses when dating the inputs', () => {
    const used = loinc('8480-6', qty(130, 'mm[Hg]'), at('2000-06-01T09:00:00Z'));
    const refused = loinc('2093-3', qty(240, 'g/L'), at('2020-06-01T09:00:00Z')); // unit not convertible
    const implausible = local('chest-pain-type', { valueInteger: 9 }, at('2021-06-01T09:00:00Z'));
    const unrelated = loinc('29463-7', qty(80, 'kg'), at('2022-06-01T09:00:00Z'));
    const t = buildTabularInput(cad, patient({ birthDate: '1960-05-01' }), [used, refused, implausible, unrelated], NOW);
    expect(t.values.age).toBe(40);
  });

  it('takes the age at the given time when no Observation is used', () => {
    expect(buildTabularInput(cad, patient({ birthDate: '1960-05-01' }), [], NOW).values.age).toBe(64);
  });
});

describe('buildTabularInput: values the model card does not admit', () => {
  const tester = () => [
    loinc('8480-6', qty(130, 'mm[Hg]')),
    loinc('2093-3', qty(240, 'mg/dL')),
    local('chest-pain-type', { valueInteger: 9 }),
    local('thallium-scan', { valueInteger: 9 }),
    local('resting-ecg', { valueInteger: 5 }),
    local('fluoroscopy-major-vessels', { valueInteger: 7 }),
  ];

  it('treats coded values outside allowedValues as missing, names them, and does not count them as real', () => {
    const list = tester();
    const t = buildTabularInput(cad, patient({ birthDate: '1960-05-01' }), list, NOW);
    for (const name of ['chest_pain_type', 'thal', 'resting_ecg', 'major_vessels']) {
      expect(t.values[name]).toBeNaN();
      expect(t.imputed).toContain(name);
    }
    expect(t.problems).toEqual([
      'chest_pain_type: 9 is implausible (allowed values: 1, 2, 3, 4); treated as missing',
      'resting_ecg: 5 is implausible (allowed values: 0, 1, 2); treated as missing',
      'major_vessels: 7 is implausible (allowed values: 0, 1, 2, 3); treated as missing',
      'thal: 9 is implausible (allowed values: 3, 6, 7); treated as missing',
    ]);
    // age, sex, blood pressure and cholesterol: 4 real inputs, below the card's 8
    expect(cad.inputs.length - t.imputed.length).toBe(4);
    expect(t.enough).toBe(false);
    expect(basisOf(t)).toEqual(['Patient/p1', `Observation/${list[0].id}`, `Observation/${list[1].id}`].sort());
  });

  it('refuses a negative vessel count and a coded value given as a CodeableConcept', () => {
    const t = buildTabularInput(cad, patient(), [local('fluoroscopy-major-vessels', { valueInteger: -3 }), local('thallium-scan', { valueCodeableConcept: { coding: [{ system: CLEVELAND, code: '5' }] } })], NOW);
    expect(t.values.major_vessels).toBeNaN();
    expect(t.values.thal).toBeNaN();
    expect(t.problems).toHaveLength(2);
  });

  it('refuses WDBC features outside their plausible range (negative, or far beyond the training data)', () => {
    const feature = (code: string, value: number) => obs('urn:fhir-ai-server:wdbc', code, qty(value, '1'));
    const radius = (value: number) => buildTabularInput(wdbc, undefined, [feature('radius_mean', value)], NOW);
    expect(radius(17.99).values.radius_mean).toBe(17.99);
    expect(radius(17.99).problems).toEqual([]);
    for (const value of [-17.99, 1799]) {
      const t = radius(value);
      expect(t.values.radius_mean).toBeNaN();
      expect(t.imputed).toContain('radius_mean');
      expect(t.problems).toEqual([`radius_mean: ${value} is implausible (plausible: 0 to 84.33); treated as missing`]);
    }
  });

  it('checks age and sex too (a birth date in the future gives no age)', () => {
    const t = buildTabularInput(cad, patient({ birthDate: '2030-01-01' }), [], NOW);
    expect(t.values.age).toBeNaN();
    expect(t.problems).toEqual(['age: -6 a is implausible (plausible: 0 to 130 a); treated as missing']);
  });
});

describe('the manifests declare what they admit', () => {
  // The runtime takes allowed values and plausible ranges from the manifest; the unit table is only
  // a stand-in for uploaded manifests that declare none, so every built-in input must declare one.
  it.each([['cad-cleveland'], ['breast-wdbc'], ['triage-news2']])('%s: every input has allowedValues or a plausibleRange, which admits its imputation value', (name) => {
    const m = manifestOf(name);
    for (const input of m.inputs) {
      expect({ input: input.name, declared: Boolean(input.allowedValues?.length || input.plausibleRange) }).toEqual({ input: input.name, declared: true });
      expect(implausibility(input, input.imputation!.value)).toBeUndefined();
      expect(implausibility(input, input.training!.min)).toBeUndefined();
      expect(implausibility(input, input.training!.max)).toBeUndefined();
    }
  });
});

describe('buildTabularInput: derived inputs', () => {
  const glucose = (value: number, unit: string) => buildTabularInput(cad, undefined, [loinc('1558-6', qty(value, unit))], NOW).values.fasting_glucose_gt_120;

  it('codes fasting glucose above 120 mg/dL as 1, else 0', () => {
    expect(glucose(130, 'mg/dL')).toBe(1);
    expect(glucose(121, 'mg/dL')).toBe(1);
    expect(glucose(120, 'mg/dL')).toBe(0);
    expect(glucose(95, 'mg/dL')).toBe(0);
  });

  it('converts a fasting glucose in mmol/L (threshold 6.66 mmol/L)', () => {
    expect(glucose(7, 'mmol/L')).toBe(1);
    expect(glucose(6.7, 'mmol/L')).toBe(1);
    expect(glucose(6.6, 'mmol/L')).toBe(0);
    expect(glucose(5.2, 'mmol/L')).toBe(0);
    const t = buildTabularInput(cad, undefined, [loinc('1558-6', { valueQuantity: { value: 8, unit: 'mmol/L' } })], NOW);
    expect(t.values.fasting_glucose_gt_120).toBe(1);
    expect(t.basis).toHaveLength(1);
  });

  it('refuses a fasting glucose in a unit it cannot convert rather than reading it as mg/dL', () => {
    // g/L converts (1.3 g/L is 130 mg/dL); a unit that is not a concentration is refused
    expect(buildTabularInput(cad, undefined, [loinc('1558-6', qty(1.3, 'g/L'))], NOW).values.fasting_glucose_gt_120).toBe(1);
    const t = buildTabularInput(cad, undefined, [loinc('1558-6', qty(130, 'mg'))], NOW);
    expect(t.values.fasting_glucose_gt_120).toBeNaN();
    expect(t.imputed).toContain('fasting_glucose_gt_120');
    expect(t.problems.some((p) => p.startsWith('fasting_glucose_gt_120:'))).toBe(true);
  });

  it('codes consciousness: Alert 0, Confusion (or voice, pain, unresponsive) 1', () => {
    const avpu = (value: Partial<Observation>) => buildTabularInput(triage, undefined, [loinc('80288-4', value)], NOW).values.consciousness;
    expect(avpu({ valueCodeableConcept: { text: 'Alert' } })).toBe(0);
    expect(avpu({ valueCodeableConcept: { coding: [{ system: LOINC, code: 'LA9340-6', display: 'Alert' }] } })).toBe(0);
    expect(avpu({ valueString: 'alert' })).toBe(0);
    expect(avpu({ valueCodeableConcept: { text: 'Confusion' } })).toBe(1);
    expect(avpu({ valueCodeableConcept: { text: 'New confusion' } })).toBe(1);
    expect(avpu({ valueCodeableConcept: { text: 'Responds to voice' } })).toBe(1);
    expect(avpu({ valueCodeableConcept: { text: 'Responds to pain' } })).toBe(1);
    expect(avpu({ valueCodeableConcept: { text: 'Unresponsive' } })).toBe(1);
    expect(avpu({ valueCodeableConcept: {} })).toBeNaN();
  });

  it('derives supplemental oxygen from the inhaled oxygen flow (3151-8) > 0', () => {
    const oxygen = (...o: Observation[]) => buildTabularInput(triage, undefined, o, NOW);
    const on = loinc('3151-8', qty(2, 'L/min'));
    expect(oxygen(on).values.supplemental_oxygen).toBe(1);
    expect(basisOf(oxygen(on))).toEqual([`Observation/${on.id}`]);
    expect(oxygen(loinc('3151-8', qty(0, 'L/min'))).values.supplemental_oxygen).toBe(0);
    // the flow wins over the inhaled oxygen concentration; without flow, FiO2 > 21 % means oxygen
    expect(oxygen(loinc('3151-8', qty(0, 'L/min')), loinc('3150-0', qty(40, '%'))).values.supplemental_oxygen).toBe(0);
    expect(oxygen(loinc('3150-0', qty(40, '%'))).values.supplemental_oxygen).toBe(1);
    expect(oxygen(loinc('3150-0', qty(21, '%'))).values.supplemental_oxygen).toBe(0);
    const none = oxygen();
    expect(none.values.supplemental_oxygen).toBeNaN();
    expect(none.imputed).toContain('supplemental_oxygen');
  });

  it('uses the latest oxygen flow', () => {
    const off = loinc('3151-8', qty(0, 'L/min'), { effectiveDateTime: '2024-05-02T00:00:00Z' });
    const on = loinc('3151-8', qty(4, 'L/min'), { effectiveDateTime: '2024-05-01T00:00:00Z' });
    expect(buildTabularInput(triage, undefined, [off, on], NOW).values.supplemental_oxygen).toBe(0);
  });
});

describe('buildTabularInput: imputed, basis and enough', () => {
  it('lists exactly the missing inputs as imputed, in manifest order, each NaN', () => {
    const { o } = fullCad();
    const t = buildTabularInput(cad, patient({ gender: 'other' }), [o.sbp, o.chol, o.thal], NOW);
    expect(t.imputed).toEqual(['sex', 'chest_pain_type', 'fasting_glucose_gt_120', 'resting_ecg', 'max_heart_rate', 'exercise_angina', 'st_depression', 'st_slope', 'major_vessels']);
    for (const name of t.imputed) expect(t.values[name]).toBeNaN();
    expect(Object.keys(t.values)).toEqual(cad.inputs.map((i) => i.name));
    for (const name of Object.keys(t.values).filter((n) => !t.imputed.includes(n))) expect(Number.isNaN(t.values[name])).toBe(false);
    expect(basisOf(t)).toEqual(refs([patient(), o.sbp, o.chol, o.thal]));
  });

  it('imputes everything when nothing is known', () => {
    const t = buildTabularInput(triage, undefined, [], NOW);
    expect(t.imputed).toEqual(triage.inputs.map((i) => i.name));
    expect(t.basis).toEqual([]);
    expect(t.problems).toEqual([]);
    expect(t.enough).toBe(false);
  });

  it('does not list Observations that no input uses, or superseded ones', () => {
    const old = loinc('2093-3', qty(300, 'mg/dL'), { effectiveDateTime: '2020-01-01T00:00:00Z' });
    const recent = loinc('2093-3', qty(200, 'mg/dL'));
    const unrelated = loinc('29463-7', qty(80, 'kg'));
    expect(basisOf(buildTabularInput(cad, undefined, [old, recent, unrelated], NOW))).toEqual([`Observation/${recent.id}`]);
  });

  it('flips enough at minRealInputs (CAD: 8 of 13)', () => {
    const { o } = fullCad();
    // age + sex + 5 Observations = 7 real inputs
    const seven = [o.chest, o.sbp, o.chol, o.glucose, o.ecg];
    const t7 = buildTabularInput(cad, patient(), seven, NOW);
    expect(cad.inputs.length - t7.imputed.length).toBe(7);
    expect(t7.enough).toBe(false);
    const t8 = buildTabularInput(cad, patient(), [...seven, o.maxHr], NOW);
    expect(cad.inputs.length - t8.imputed.length).toBe(8);
    expect(t8.enough).toBe(true);
  });

  it('flips enough at minRealInputs (triage: 5 of 7), refused values counting as missing', () => {
    const { o } = fullTriage();
    const four = [o.rr, o.spo2, o.hr, o.temp];
    expect(buildTabularInput(triage, undefined, four, NOW).enough).toBe(false);
    expect(buildTabularInput(triage, undefined, [...four, o.avpu], NOW).enough).toBe(true);
    const refused = loinc('80288-4', { valueCodeableConcept: {} });
    expect(buildTabularInput(triage, undefined, [...four, refused], NOW).enough).toBe(false);
    const implausible = loinc('8480-6', qty(900, 'mm[Hg]'));
    const t = buildTabularInput(triage, undefined, [...four, implausible], NOW);
    expect(t.enough).toBe(false);
    expect(t.problems).toHaveLength(1);
  });
});
