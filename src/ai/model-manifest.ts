import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Coding } from '@medplum/fhirtypes';

export type AiTask = 'diagnosis-confidence' | 'triage' | 'sentiment' | 'vital-sign-anomaly';

/** One model input as its manifest declares it: the FHIR code it is read from, its unit, how it is imputed. */
export interface ManifestInput {
  name: string;
  kind: 'continuous' | 'binary' | 'categorical' | 'count' | 'text';
  code: Coding;
  /** Other codes the same value may be recorded under (e.g. SpO2 as 2708-6 as well as 59408-5). */
  alternativeCodes?: Coding[];
  unit?: string;
  derivation?: string;
  /** Every value a coded, binary or count input may take: any other is implausible and treated as missing. */
  allowedValues?: Array<{ value: number; meaning?: string }>;
  /** A measured input's plausible bounds (inclusive): outside them a value is treated as missing. */
  plausibleRange?: { min: number; max: number; basis?: string };
  tensor: { elementType: 'float32' | 'string'; shape: Array<string | number> };
  imputation?: { value: number; method: string };
  training?: { mean: number; sd: number; median: number; min: number; max: number };
}

export interface ManifestOutput {
  name: string;
  elementType: string;
  shape: Array<string | number>;
  range?: [number, number];
  labels?: string[];
}

/** A model version's manifest (models/<name>/manifest.json): what it computes, from what, and how well. */
export interface ModelManifest {
  name: string;
  version: string;
  task: AiTask;
  title: string;
  condition?: Coding;
  model: { file: string; sha256: string };
  inputs: ManifestInput[];
  /** Below this many real (not imputed) inputs the estimate is not meaningful. */
  minRealInputs: number;
  outputs: ManifestOutput[];
  threshold: { output: string; value: number; meaning?: string };
  metrics?: Record<string, unknown>;
  description?: string;
  /** When the model was last trained (ISO date), and whether it was trained federated (ai_models columns). */
  lastTrained?: string;
  federated?: boolean;
  /** The training data and method, as the model card describes them. */
  training?: Record<string, unknown>;
}

export interface BuiltInModel {
  manifest: ModelManifest;
  bytes: Buffer;
  sha256: string;
}

/** The project's models/ folder, found from this file whether it runs from src/ (tests) or dist/src/. */
export function modelsDir(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'models');
}

/** The built-in models shipped under models/<name>/ (manifest.json + the .onnx it names), checked against their sha256. */
export function loadBuiltInModels(dir = modelsDir()): BuiltInModel[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'manifest.json')))
    .map((d) => {
      const manifest = JSON.parse(readFileSync(path.join(dir, d.name, 'manifest.json'), 'utf8')) as ModelManifest;
      const bytes = readFileSync(path.join(dir, d.name, manifest.model.file));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (sha256 !== manifest.model.sha256) throw new Error(`models/${d.name}: ${manifest.model.file} does not match the sha256 in its manifest`);
      return { manifest, bytes, sha256 };
    })
    .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
}
