import { Injectable } from '@nestjs/common';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ModelOutputs } from '../inference.service';
import type { ModelManifest } from '../model-manifest';
import type { GraphSignature } from './model-upload.checks';

type Ort = typeof import('onnxruntime-node');
let ort: Ort | undefined;
function runtime(): Ort {
  // Loaded on the first upload: the API process needs the native runtime for nothing else.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (ort ??= require('onnxruntime-node') as Ort);
}

/** An uploaded model opened for checking: its graph's signature, a way to run rows, and release. */
export interface OpenedModel {
  signature: GraphSignature;
  run(manifest: ModelManifest, row: Record<string, number | string>): Promise<ModelOutputs>;
  release(): Promise<void>;
}

/**
 * Opens uploaded ONNX files in onnxruntime, in the API process, to check them before they are
 * registered. Unlike InferenceService it caches nothing: a rejected file must leave nothing behind.
 */
@Injectable()
export class OnnxInspector {
  /** Throws onnxruntime's own message when the bytes are not a model it can load. */
  async open(bytes: Buffer): Promise<OpenedModel> {
    const { InferenceSession: S, Tensor: T } = runtime();
    const session: InferenceSession = await S.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
    const describe = (m: readonly InferenceSession.ValueMetadata[]) =>
      m.map((v) => (v.isTensor ? { name: v.name, isTensor: true, type: v.type as string, shape: [...v.shape] } : { name: v.name, isTensor: false }));
    return {
      signature: { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) },
      async run(manifest, row) {
        const feeds: Record<string, Tensor> = {};
        for (const input of manifest.inputs) {
          const v = row[input.name];
          const dims = input.tensor.shape.map((d) => (typeof d === 'number' ? d : 1));
          feeds[input.name] = input.tensor.elementType === 'string' ? new T('string', [String(v ?? '')], dims) : new T('float32', Float32Array.from([Number(v)]), dims);
        }
        const result = await session.run(feeds);
        const out: ModelOutputs = {};
        for (const [name, tensor] of Object.entries(result)) out[name] = Array.from(tensor.data as ArrayLike<number | bigint>, (x) => Number(x));
        return out;
      },
      release: () => session.release(),
    };
  }
}
