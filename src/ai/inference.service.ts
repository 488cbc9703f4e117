import { Injectable, Optional } from '@nestjs/common';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ModelManifest } from './model-manifest';
import { Metrics } from '../metrics/metrics';
import { modelId } from './model-registry.service';

type Ort = typeof import('onnxruntime-node');
let ort: Ort | undefined;
function runtime(): Ort {
  // Loaded on first use: the API process never needs the native runtime.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (ort ??= require('onnxruntime-node') as Ort);
}

/** Model outputs by name, as plain numbers (one row). */
export type ModelOutputs = Record<string, number[]>;

/**
 * Runs ONNX models with onnxruntime-node. A session is created once per model file (by sha256)
 * and reused by every job; sessions are safe to run concurrently.
 */
@Injectable()
export class InferenceService {
  private readonly sessions = new Map<string, Promise<InferenceSession>>();

  constructor(@Optional() private readonly metrics?: Metrics) {}

  session(sha256: string, bytes: Buffer): Promise<InferenceSession> {
    let s = this.sessions.get(sha256);
    if (!s) {
      s = runtime().InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
      s.catch(() => this.sessions.delete(sha256)); // a file that fails to load is tried again next time
      this.sessions.set(sha256, s);
    }
    return s;
  }

  /**
   * Texts as one batch through a model whose one input is a string tensor [N] (sentiment): each
   * output's values, row after row. Used to ask the model about single words.
   */
  async runTexts(manifest: ModelManifest, sha256: string, bytes: Buffer, texts: readonly string[]): Promise<ModelOutputs> {
    const [input, ...others] = manifest.inputs;
    if (!input || others.length || input.tensor.elementType !== 'string') throw new Error(`${modelId(manifest)} does not take one text input`);
    const session = await this.session(sha256, bytes).catch((err: unknown) => {
      throw new Error(`Model ${modelId(manifest)} (sha256 ${sha256.slice(0, 12)}) could not be loaded: ${(err as Error).message}`);
    });
    const result = await session.run({ [input.name]: new (runtime().Tensor)('string', [...texts], [texts.length]) });
    const out: ModelOutputs = {};
    for (const [name, tensor] of Object.entries(result)) out[name] = Array.from(tensor.data as ArrayLike<number | bigint>, (x) => Number(x));
    return out;
  }

  /** One row through a model: numbers for tabular inputs, a string for text ones. */
  async run(manifest: ModelManifest, sha256: string, bytes: Buffer, row: Record<string, number | string>): Promise<ModelOutputs> {
    const session = await this.session(sha256, bytes).catch((err: unknown) => {
      // onnxruntime's message does not say which model: the failed job's reason must.
      throw new Error(`Model ${modelId(manifest)} (sha256 ${sha256.slice(0, 12)}) could not be loaded: ${(err as Error).message}`);
    });
    const { Tensor: T } = runtime();
    const feeds: Record<string, Tensor> = {};
    for (const input of manifest.inputs) {
      const v = row[input.name];
      const dims = input.tensor.shape.map((d) => (typeof d === 'number' ? d : 1));
      feeds[input.name] = input.tensor.elementType === 'string' ? new T('string', [String(v ?? '')], dims) : new T('float32', Float32Array.from([Number(v)]), dims);
    }
    const started = process.hrtime.bigint();
    const result = await session.run(feeds);
    this.metrics?.inferenceSeconds.observe({ model: modelId(manifest) }, Number(process.hrtime.bigint() - started) / 1e9);
    const out: ModelOutputs = {};
    for (const [name, tensor] of Object.entries(result)) out[name] = Array.from(tensor.data as ArrayLike<number | bigint>, (x) => Number(x));
    return out;
  }
}
