/**
 * The manifest each built-in model ships with (models/<name>/manifest.json): what the runtime needs
 * to turn FHIR resources into the model's tensors (codes, units, imputation values) and to read its
 * outputs, plus the figures a data scientist checks before promoting it.
 */

export interface Coding {
  system: string;
  code: string;
  display: string;
}

export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const UCUM = 'http://unitsofmeasure.org';

export interface InputStats {
  mean: number;
  sd: number;
  median: number;
  min: number;
  max: number;
  /** Rows of the training split where the value was missing (and imputed). */
  missing: number;
}

export interface InputSpec {
  /** The ONNX graph input's name. */
  name: string;
  description: string;
  /** Where the value comes from in FHIR. */
  source: string;
  code: Coding;
  alternativeCodes?: Coding[];
  /** UCUM code of the value fed to the model ("1" for codes and flags); absent for text. */
  unit?: string;
  kind: 'continuous' | 'count' | 'binary' | 'categorical' | 'text';
  /** How the FHIR value becomes the number fed to the model, where that is not just the quantity. */
  derivation?: string;
  /** Every value a coded, binary or count input may take; any other is implausible (the runtime treats it as missing). */
  allowedValues?: { value: number; meaning: string }[];
  /**
   * For a measured input: outside [min, max] a value is implausible (a unit, scale or typing
   * error) and the runtime treats it as missing; `basis` says how the bounds were chosen.
   */
  plausibleRange?: { min: number; max: number; basis: string };
  tensor: { elementType: 'float32' | 'string'; shape: (number | string)[] };
  /** Of the training split (raw values, before any standardisation). Absent for text. */
  training?: InputStats;
  /** The value the runtime substitutes when the input is missing; it must then name the input as imputed. */
  imputation?: { value: number; method: string };
}

export interface OutputSpec {
  name: string;
  description: string;
  elementType: 'float32' | 'int64';
  shape: (number | string)[];
  /** Absent for an unbounded output. */
  range?: [number, number];
  /** For class outputs: what each column or value means. */
  labels?: string[];
}

export interface ManifestMetrics {
  evaluation: string;
  [key: string]: unknown;
}

export interface ModelManifest {
  schema: 'fhir-ai-server/model-manifest/1';
  name: string;
  version: string;
  task: 'diagnosis-confidence' | 'triage' | 'sentiment' | 'vital-sign-anomaly';
  title: string;
  description: string;
  /** The condition a diagnosis-confidence model serves (SNOMED CT). */
  condition?: Coding;
  model: {
    file: 'model.onnx';
    sha256: string;
    bytes: number;
    irVersion: number;
    opsets: { domain: string; version: number }[];
    ops: string[];
    parameters: number;
    runtime: string;
  };
  inputs: InputSpec[];
  /** Fewer real (non-imputed) inputs than this: no meaningful estimate; the runtime should not make one. */
  minRealInputs: number;
  outputs: OutputSpec[];
  threshold?: { output: string; value: number; meaning: string };
  training: {
    data: DatasetRef[];
    rows: number;
    split: string;
    seed: number;
    preprocessing: string[];
    algorithm: string;
    hyperparameters: Record<string, unknown>;
  };
  metrics: ManifestMetrics;
  intendedUse: string;
  limitations: string[];
}

export interface DatasetRef {
  name: string;
  files: string[];
  licence: string;
  citation: string;
  source: string;
}

export const DATASETS = {
  cleveland: {
    name: 'UCI Heart Disease, Cleveland Clinic Foundation (processed.cleveland.data)',
    files: ['processed.cleveland.data'],
    licence: 'CC BY 4.0 (UCI Machine Learning Repository)',
    citation:
      'Janosi, A., Steinbrunn, W., Pfisterer, M., & Detrano, R. (1989). Heart Disease [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C52P4X. Detrano, R. et al. (1989). International application of a new probability algorithm for the diagnosis of coronary artery disease. American Journal of Cardiology 64(5), 304-310.',
    source: 'shared/datasets (mirror EyedBread/naive-bayes @994f046; a header line added by the mirror)',
  },
  wdbc: {
    name: 'UCI Breast Cancer Wisconsin (Diagnostic) (wdbc.data)',
    files: ['wdbc.data', 'wdbc.names'],
    licence: 'CC BY 4.0 (UCI Machine Learning Repository)',
    citation:
      'Wolberg, W., Mangasarian, O., Street, N., & Street, W. (1995). Breast Cancer Wisconsin (Diagnostic) [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5DW2B. Street, W.N., Wolberg, W.H., Mangasarian, O.L. (1993). Nuclear feature extraction for breast tumor diagnosis. IS&T/SPIE Electronic Imaging 1905, 861-870.',
    source: 'shared/datasets (mirror willhurwitz123/Wisconsin-breast-cancer-data @6791d5f; a header line added by the mirror)',
  },
  sentiment: {
    name: 'UCI Sentiment Labelled Sentences (Amazon, IMDb, Yelp; 3 x 1000 sentences)',
    files: ['amazon_cells_labelled.txt', 'imdb_labelled.txt', 'yelp_labelled.txt'],
    licence: 'CC BY 4.0 (UCI Machine Learning Repository)',
    citation:
      'Kotzias, D. (2015). Sentiment Labelled Sentences [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C57604. Kotzias, D., Denil, M., de Freitas, N., Smyth, P. (2015). From Group to Individual Labels using Deep Features. KDD 2015.',
    source: 'shared/datasets (mirror k3v1n-KI/semtement_analyzer @313f6b4; a header line added by the mirror)',
  },
  news2: {
    name: 'Synthetic vital signs generated by scripts/train-models/news2.ts (no real patient data), labelled with NEWS2',
    files: [],
    licence: 'Generated by this project (Apache-2.0). NEWS2 chart: © Royal College of Physicians, used with acknowledgement, not modified.',
    citation:
      'Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the assessment of acute-illness severity in the NHS. Updated report of a working party. London: RCP, 2017.',
    source: 'generated deterministically from a fixed seed at training time',
  },
} satisfies Record<string, DatasetRef>;
