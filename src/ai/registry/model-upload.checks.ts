import type { ModelManifest } from '../model-manifest';
import { sameShape, shapeText, type Dim } from '../task-contracts';
import type { Problem } from './manifest.checks';

/** An input or output of an ONNX graph as onnxruntime reports it. */
export interface GraphValue {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly Dim[];
}

export interface GraphSignature {
  inputs: readonly GraphValue[];
  outputs: readonly GraphValue[];
}

/**
 * How an ONNX graph's inputs and outputs (names, element types, shapes) depart from its manifest:
 * every manifest input and output must be in the graph as declared, and the graph must have no
 * input or output the manifest leaves out (the plugin would not feed or read it). Pure.
 */
export function signatureProblems(manifest: ModelManifest, graph: GraphSignature): Problem[] {
  const problems: Problem[] = [];
  const compare = (side: 'input' | 'output', declared: Array<{ name: string; elementType: string; shape: Dim[] }>, actual: readonly GraphValue[]) => {
    const path = `${side}s`;
    declared.forEach((d, i) => {
      const g = actual.find((a) => a.name === d.name);
      if (!g) {
        problems.push({ path: `${path}[${i}].name`, message: `the ONNX graph has no ${side} ${d.name} (its ${side}s: ${actual.map((a) => a.name).join(', ') || 'none'})` });
        return;
      }
      if (!g.isTensor) {
        problems.push({ path: `${path}[${i}]`, message: `the ONNX graph's ${side} ${d.name} is not a tensor` });
        return;
      }
      if (g.type !== d.elementType) problems.push({ path: `${path}[${i}].elementType`, message: `the ONNX graph's ${side} ${d.name} is ${g.type}, the manifest says ${d.elementType}` });
      const shape = (g.shape ?? []).map((x) => (typeof x === 'number' && x < 0 ? '?' : x));
      if (!sameShape(shape, d.shape)) problems.push({ path: `${path}[${i}].shape`, message: `the ONNX graph's ${side} ${d.name} has shape ${shapeText(shape)}, the manifest says ${shapeText(d.shape)}` });
    });
    for (const g of actual) {
      if (!declared.some((d) => d.name === g.name)) problems.push({ path, message: `the ONNX graph's ${side} ${g.name} is not in the manifest` });
    }
  };
  compare('input', manifest.inputs.map((i) => ({ name: i.name, elementType: i.tensor.elementType, shape: i.tensor.shape })), graph.inputs);
  compare('output', manifest.outputs.map((o) => ({ name: o.name, elementType: o.elementType, shape: o.shape })), graph.outputs);
  return problems;
}
