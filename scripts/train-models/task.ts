import type { ModelManifest } from './manifest';

/** What each task's trainer hands to the runner (train.ts). */

export type Feed = { type: 'float32'; data: Float32Array; dims: number[] } | { type: 'string'; data: string[]; dims: number[] };

export interface TaskOutput {
  name: string;
  bytes: Uint8Array;
  /** Complete but for `model` (filled from the encoded bytes). */
  manifest: Omit<ModelManifest, 'model'>;
  /** The metrics block printed by the run and copied into the model card. */
  report: string;
  /** Task-specific sections of the model card (markdown). */
  cardSections: { title: string; body: string }[];
  /** The ONNX model run on these feeds must give `expected` on `output` within `tolerance`. */
  parity: { feeds: Record<string, Feed>; output: string; expected: number[]; tolerance: number; what: string };
}

export const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/** Rounds to 6 significant digits for the manifest (values the graph uses exactly are not rounded). */
export function sig(x: number, digits = 6): number {
  return x === 0 || !Number.isFinite(x) ? x : Number(x.toPrecision(digits));
}

export function floatFeed(values: readonly number[]): Feed {
  return { type: 'float32', data: Float32Array.from(values), dims: [values.length, 1] };
}
