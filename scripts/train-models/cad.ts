import type { ClevelandRow } from './data';
import { trainDiagnosis, type DiagnosisInput } from './diagnosis';
import { DATASETS, LOINC, SNOMED } from './manifest';
import type { TaskOutput } from './task';

/**
 * cad-cleveland: probability of coronary artery disease (angiographic narrowing > 50% in any major
 * vessel, the data set's num > 0) from the 13 attributes of the Cleveland Clinic data.
 */

export const CLEVELAND_SYSTEM = 'urn:fhir-ai-server:cleveland';

const local = (code: string, display: string) => ({ system: CLEVELAND_SYSTEM, code, display });

/** Bounds of a measured input that no patient reaches: a value outside them is a unit or typing error. */
const limits = (min: number, max: number, unit: string) => ({ min, max, basis: `physiological limits; outside ${min}-${max} ${unit} a unit or typing error` });

/** In the file's column order (age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal). */
export const CAD_INPUTS: DiagnosisInput[] = [
  {
    name: 'age',
    kind: 'continuous',
    description: 'age in years',
    source: 'Patient.birthDate: whole years at the time of the most recent other input',
    code: { system: LOINC, code: '30525-0', display: 'Age' },
    unit: 'a',
    plausibleRange: { min: 0, max: 130, basis: 'whole years a person can have lived' },
  },
  {
    name: 'sex',
    kind: 'binary',
    description: 'sex: 1 male, 0 female',
    source: 'Patient.gender',
    code: { system: LOINC, code: '46098-0', display: 'Sex' },
    unit: '1',
    derivation: 'Patient.gender male -> 1, female -> 0; other or unknown -> missing (imputed)',
    allowedValues: [
      { value: 0, meaning: 'female' },
      { value: 1, meaning: 'male' },
    ],
  },
  {
    name: 'chest_pain_type',
    kind: 'categorical',
    categories: [1, 2, 3, 4],
    description: 'chest pain type (one-hot in the graph)',
    source: `Observation with code ${CLEVELAND_SYSTEM}#chest-pain-type, valueInteger (or valueCodeableConcept with the same local codes 1-4)`,
    code: local('chest-pain-type', 'Chest pain type'),
    unit: '1',
    allowedValues: [
      { value: 1, meaning: 'typical angina' },
      { value: 2, meaning: 'atypical angina' },
      { value: 3, meaning: 'non-anginal pain' },
      { value: 4, meaning: 'asymptomatic' },
    ],
  },
  {
    name: 'resting_systolic_bp',
    kind: 'continuous',
    description: 'resting systolic blood pressure (on admission to hospital in the source data)',
    source: 'Observation 8480-6 (or the 8480-6 component of a blood-pressure panel 85354-9), valueQuantity',
    code: { system: LOINC, code: '8480-6', display: 'Systolic blood pressure' },
    unit: 'mm[Hg]',
    plausibleRange: limits(0, 400, 'mm[Hg]'),
  },
  {
    name: 'serum_cholesterol',
    kind: 'continuous',
    description: 'serum total cholesterol',
    source: 'Observation 2093-3, valueQuantity (convert mmol/L x 38.67 to mg/dL)',
    code: { system: LOINC, code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma' },
    unit: 'mg/dL',
    plausibleRange: limits(0, 2000, 'mg/dL'),
  },
  {
    name: 'fasting_glucose_gt_120',
    kind: 'binary',
    description: 'fasting blood sugar > 120 mg/dL: 1 yes, 0 no',
    source: 'Observation 1558-6, valueQuantity',
    code: { system: LOINC, code: '1558-6', display: 'Fasting glucose [Mass/volume] in Serum or Plasma' },
    unit: '1',
    derivation: '1 if the fasting glucose is > 120 mg/dL (> 6.66 mmol/L), else 0',
    allowedValues: [
      { value: 0, meaning: '<= 120 mg/dL' },
      { value: 1, meaning: '> 120 mg/dL' },
    ],
  },
  {
    name: 'resting_ecg',
    kind: 'categorical',
    categories: [0, 1, 2],
    description: 'resting electrocardiographic result (one-hot in the graph)',
    source: `Observation with code ${CLEVELAND_SYSTEM}#resting-ecg, valueInteger`,
    code: local('resting-ecg', 'Resting ECG result'),
    unit: '1',
    allowedValues: [
      { value: 0, meaning: 'normal' },
      { value: 1, meaning: 'ST-T wave abnormality (T wave inversion and/or ST elevation or depression > 0.05 mV)' },
      { value: 2, meaning: 'probable or definite left ventricular hypertrophy by Estes criteria' },
    ],
  },
  {
    name: 'max_heart_rate',
    kind: 'continuous',
    description: 'maximum heart rate achieved during the exercise stress test',
    source: `Observation with code ${CLEVELAND_SYSTEM}#max-heart-rate-exercise, valueQuantity`,
    code: local('max-heart-rate-exercise', 'Maximum heart rate achieved during exercise test'),
    unit: '/min',
    derivation:
      'the peak rate of an exercise stress test; NOT a resting or pulse-oximetry heart rate (LOINC 8867-4 / 8889-8), which would read as a very low peak and inflate the estimate',
    plausibleRange: limits(0, 400, '/min'),
  },
  {
    name: 'exercise_angina',
    kind: 'binary',
    description: 'exercise-induced angina: 1 yes, 0 no',
    source: `Observation with code ${CLEVELAND_SYSTEM}#exercise-induced-angina, valueBoolean (true -> 1)`,
    code: local('exercise-induced-angina', 'Exercise-induced angina'),
    unit: '1',
    allowedValues: [
      { value: 0, meaning: 'no' },
      { value: 1, meaning: 'yes' },
    ],
  },
  {
    name: 'st_depression',
    kind: 'continuous',
    description: 'ST depression induced by exercise relative to rest (oldpeak)',
    source: `Observation with code ${CLEVELAND_SYSTEM}#st-depression-exercise, valueQuantity`,
    code: local('st-depression-exercise', 'ST depression induced by exercise relative to rest'),
    unit: 'mm',
    plausibleRange: { min: 0, max: 10, basis: 'the source records the depression as a non-negative figure (at most 6.2 mm); above 10 mm a unit or typing error' },
  },
  {
    name: 'st_slope',
    kind: 'categorical',
    categories: [1, 2, 3],
    description: 'slope of the peak exercise ST segment (one-hot in the graph)',
    source: `Observation with code ${CLEVELAND_SYSTEM}#st-slope-peak-exercise, valueInteger`,
    code: local('st-slope-peak-exercise', 'Slope of the peak exercise ST segment'),
    unit: '1',
    allowedValues: [
      { value: 1, meaning: 'upsloping' },
      { value: 2, meaning: 'flat' },
      { value: 3, meaning: 'downsloping' },
    ],
  },
  {
    name: 'major_vessels',
    kind: 'count',
    description: 'number of major vessels (0-3) coloured by fluoroscopy',
    source: `Observation with code ${CLEVELAND_SYSTEM}#fluoroscopy-major-vessels, valueInteger`,
    code: local('fluoroscopy-major-vessels', 'Number of major vessels coloured by fluoroscopy'),
    unit: '1',
    allowedValues: [
      { value: 0, meaning: 'none' },
      { value: 1, meaning: 'one' },
      { value: 2, meaning: 'two' },
      { value: 3, meaning: 'three' },
    ],
  },
  {
    name: 'thal',
    kind: 'categorical',
    categories: [3, 6, 7],
    description: 'thallium stress scintigraphy result (one-hot in the graph)',
    source: `Observation with code ${CLEVELAND_SYSTEM}#thallium-scan, valueInteger`,
    code: local('thallium-scan', 'Thallium stress test result'),
    unit: '1',
    allowedValues: [
      { value: 3, meaning: 'normal' },
      { value: 6, meaning: 'fixed defect' },
      { value: 7, meaning: 'reversible defect' },
    ],
  },
];

export function trainCad(rows: ClevelandRow[], producerVersion: string): TaskOutput {
  return trainDiagnosis({
    name: 'cad-cleveland',
    version: '1.0.0',
    modelVersion: 1,
    producerVersion,
    title: 'Coronary artery disease: diagnosis confidence (Cleveland)',
    description:
      'Probability that a patient referred for angiography has coronary artery disease (> 50% diameter narrowing in any major vessel), from demographics, resting measurements and exercise-test findings.',
    condition: { system: SNOMED, code: '53741008', display: 'Coronary arteriosclerosis' },
    data: DATASETS.cleveland,
    inputs: CAD_INPUTS,
    rows: rows.map((r) => r.features),
    labels: rows.map((r) => (r.num > 0 ? 1 : 0)),
    positiveLabel: 'with disease (num > 0)',
    testFraction: 0.3,
    seed: 1,
    repeatSeeds: [1, 2, 3, 4, 5],
    threshold: 0.5,
    minRealInputs: 8,
    preprocessing: [
      "label: num > 0 (any of the source's disease grades 1-4) -> 1, num = 0 -> 0",
      "'?' (4 rows of ca, 2 of thal in the file) -> missing; missing values imputed with the training split's median (continuous, count, binary) or mode (categorical); the graph does the same for NaN inputs",
      'continuous, count and binary inputs standardised with the training mean and sample sd (Sub, Div in the graph)',
      'categorical inputs (chest_pain_type, resting_ecg, st_slope, thal) rounded and one-hot coded in the graph; an unknown code gives an all-zero row (no contribution)',
    ],
    intendedUse:
      'Decision support: a probability shown to a clinician with the inputs behind it, as a proposal to approve or reject. Not a diagnosis, not for screening the general population, not for use without clinician review.',
    limitations: [
      '303 patients referred for coronary angiography at one centre (Cleveland Clinic Foundation, data published 1989): a high-prevalence (46%), mostly male (68%) population; probabilities do not transfer to primary care or screening populations without recalibration.',
      'Eight of the 13 inputs are bound to local codes (urn:fhir-ai-server:cleveland), because no LOINC code for them could be verified here: chest pain type, resting ECG result, four exercise-test findings, the fluoroscopy vessel count and the thallium result. A site maps its own codes to these (a ConceptMap); a server that lacks them imputes the training median/mode, which pulls the estimate toward the training population.',
      'The strongest inputs (thal, major_vessels, chest_pain_type, st_depression, max_heart_rate) are the ones most often missing from routine FHIR data; below minRealInputs real inputs no estimate should be made.',
      'Logistic regression: additive effects on the log-odds only; no interactions.',
      'Sex is binary in the source data (Patient.gender other/unknown is treated as missing).',
    ],
    cardSections: [],
  });
}
