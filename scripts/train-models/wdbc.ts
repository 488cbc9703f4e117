import { WDBC_COLUMNS, WDBC_MEASUREMENTS, type WdbcRow } from './data';
import { trainDiagnosis, type DiagnosisInput } from './diagnosis';
import { DATASETS, SNOMED } from './manifest';
import type { TaskOutput } from './task';

/** breast-wdbc: probability that a breast mass is malignant, from the 30 nuclear features of its FNA image. */

export const WDBC_SYSTEM = 'urn:fhir-ai-server:wdbc';

const MEASUREMENT_TEXT: Record<(typeof WDBC_MEASUREMENTS)[number], string> = {
  radius: 'radius (mean distance from centre to perimeter points)',
  texture: 'texture (standard deviation of grey-scale values)',
  perimeter: 'perimeter',
  area: 'area',
  smoothness: 'smoothness (local variation in radius lengths)',
  compactness: 'compactness (perimeter^2 / area - 1)',
  concavity: 'concavity (severity of concave portions of the contour)',
  concave_points: 'concave points (number of concave portions of the contour)',
  symmetry: 'symmetry',
  fractal_dimension: 'fractal dimension (coastline approximation - 1)',
};

const STAT_TEXT = { mean: 'mean over the nuclei', se: 'standard error over the nuclei', worst: 'worst (mean of the three largest values)' } as const;

export const WDBC_INPUTS: DiagnosisInput[] = WDBC_COLUMNS.map((name) => {
  const stat = name.slice(name.lastIndexOf('_') + 1) as keyof typeof STAT_TEXT;
  const measurement = name.slice(0, name.lastIndexOf('_')) as (typeof WDBC_MEASUREMENTS)[number];
  const text = `nuclear ${MEASUREMENT_TEXT[measurement]}, ${STAT_TEXT[stat]}`;
  return {
    name,
    kind: 'continuous',
    description: text,
    source: `Observation (or a component of the FNA cytology DiagnosticReport's Observation) with code ${WDBC_SYSTEM}#${name}, valueQuantity`,
    code: { system: WDBC_SYSTEM, code: name, display: `Breast FNA image: ${text}` },
    unit: '1',
    derivation: 'as computed by the Xcyt image-analysis program from a digitised fine-needle-aspirate image (image units; lengths in pixels, areas in pixels^2); no standard LOINC code exists for these features, hence the local code system',
  };
});

export function trainWdbc(rows: WdbcRow[], producerVersion: string): TaskOutput {
  return trainDiagnosis({
    name: 'breast-wdbc',
    version: '1.0.0',
    modelVersion: 1,
    producerVersion,
    title: 'Malignant breast mass: diagnosis confidence (Wisconsin Diagnostic, FNA)',
    description: 'Probability that a breast mass is malignant, from 30 features of the cell nuclei in a digitised image of its fine-needle aspirate.',
    condition: { system: SNOMED, code: '254837009', display: 'Malignant neoplasm of breast' },
    data: DATASETS.wdbc,
    inputs: WDBC_INPUTS,
    rows: rows.map((r) => r.features),
    labels: rows.map((r) => (r.malignant ? 1 : 0)),
    positiveLabel: 'malignant',
    testFraction: 0.3,
    seed: 1,
    repeatSeeds: [1, 2, 3, 4, 5],
    threshold: 0.5,
    minRealInputs: 27,
    // Every feature is a length, area, spread or ratio (never negative); a value beyond three times
    // the largest seen in training is far outside the data and most likely a scale or typing error
    // (17.99 typed as 1799), which the model would otherwise extrapolate from.
    plausibleFromTraining: {
      maxMultiple: 3,
      basis: 'non-negative by definition; at most 3 x the training maximum, beyond which a scale or typing error is far likelier than a real nucleus',
    },
    preprocessing: [
      'label: diagnosis M -> 1, B -> 0; the id column is dropped',
      'no missing values in the source; at run time missing inputs are imputed with the training median (the graph does the same for NaN inputs)',
      'all 30 inputs standardised with the training mean and sample sd (Sub, Div in the graph)',
    ],
    intendedUse:
      'Decision support for a clinician or cytopathologist reviewing a breast FNA: a probability of malignancy with the features behind it, as a proposal to approve or reject. Not a diagnosis; histology remains the reference.',
    limitations: [
      '569 aspirates from one institution (University of Wisconsin Hospitals, Madison, 1990s), analysed with one image-analysis program (Xcyt): the features are only meaningful when computed the same way; other software or magnification changes their scale.',
      'The inputs have no standard LOINC codes: they are declared under the local system urn:fhir-ai-server:wdbc and must be produced by a pipeline that knows these definitions.',
      'Strongly correlated inputs (radius, perimeter, area): individual coefficients are not interpretable as effects; only the probability is.',
      'The held-out set is small (171 aspirates): the confidence interval on accuracy is several points wide.',
    ],
    cardSections: [],
  });
}
