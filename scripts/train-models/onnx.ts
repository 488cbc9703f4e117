import { onnx } from 'onnx-proto';

/**
 * A thin layer over onnx-proto (the ONNX protobuf schema compiled for protobufjs) to build graphs.
 * Encoding goes through protobufjs, field order fixed by the schema: the same graph gives the same
 * bytes.
 */

export const DataType = onnx.TensorProto.DataType;
const AttrType = onnx.AttributeProto.AttributeType;

/** ONNX IR version 8 goes with opset 17 (onnx 1.12+; onnxruntime 1.12+). */
export const IR_VERSION = 8;
export const OPSET = 17;
export const MS_DOMAIN = 'com.microsoft';

export type Attr = onnx.IAttributeProto;

export const attr = {
  int: (name: string, i: number): Attr => ({ name, type: AttrType.INT, i }),
  ints: (name: string, ints: readonly number[]): Attr => ({ name, type: AttrType.INTS, ints: [...ints] }),
  float: (name: string, f: number): Attr => ({ name, type: AttrType.FLOAT, f }),
  floats: (name: string, floats: readonly number[]): Attr => ({ name, type: AttrType.FLOATS, floats: [...floats] }),
  string: (name: string, s: string): Attr => ({ name, type: AttrType.STRING, s: Buffer.from(s, 'utf8') }),
  strings: (name: string, strings: readonly string[]): Attr => ({ name, type: AttrType.STRINGS, strings: strings.map((s) => Buffer.from(s, 'utf8')) }),
};

export function floatTensor(name: string, dims: readonly number[], data: ArrayLike<number>): onnx.ITensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`tensor ${name}: ${data.length} values for dims [${dims.join(', ')}]`);
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new Error(`tensor ${name}: value ${i} is not finite`);
  return { name, dataType: DataType.FLOAT, dims: [...dims], floatData: Array.from(data, (x) => Math.fround(x)) };
}

export function int64Tensor(name: string, dims: readonly number[], data: readonly number[]): onnx.ITensorProto {
  return { name, dataType: DataType.INT64, dims: [...dims], int64Data: [...data] };
}

export type Dim = number | string;

export function valueInfo(name: string, elemType: number, dims: readonly Dim[], docString?: string): onnx.IValueInfoProto {
  return {
    name,
    docString,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

/** Collects nodes and initialisers; node names are numbered in order of creation. */
export class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private counter = 0;
  readonly domains = new Set<string>(['']);

  constant(tensor: onnx.ITensorProto): string {
    this.initializers.push(tensor);
    return tensor.name as string;
  }

  /** Adds a node; returns its output names. */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attributes: Attr[] = [], domain = ''): string[] {
    this.domains.add(domain);
    this.nodes.push({ name: `${opType.toLowerCase()}_${this.counter++}`, opType, domain: domain || undefined, input: [...inputs], output: [...outputs], attribute: attributes });
    return [...outputs];
  }

  /** A one-output node. */
  op(opType: string, inputs: readonly string[], output: string, attributes: Attr[] = [], domain = ''): string {
    return this.node(opType, inputs, [output], attributes, domain)[0];
  }
}

export interface ModelSpec {
  graphName: string;
  graph: GraphBuilder;
  inputs: onnx.IValueInfoProto[];
  outputs: onnx.IValueInfoProto[];
  docString: string;
  /** Stored as the model's metadata_props, in this order. */
  metadata: [string, string][];
  producerVersion: string;
  /** ModelProto.model_version (an integer). */
  modelVersion: number;
}

export function encodeModel(spec: ModelSpec): Uint8Array {
  const opsetImport = [...spec.graph.domains].sort().map((domain) => ({ domain, version: domain === MS_DOMAIN ? 1 : OPSET }));
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport,
    producerName: 'fhir-ai-server scripts/train-models',
    producerVersion: spec.producerVersion,
    domain: 'org.fhir-ai-server',
    modelVersion: spec.modelVersion,
    docString: spec.docString,
    graph: {
      name: spec.graphName,
      node: spec.graph.nodes,
      initializer: spec.graph.initializers,
      input: spec.inputs,
      output: spec.outputs,
    },
    metadataProps: spec.metadata.map(([key, value]) => ({ key, value })),
  });
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`invalid ModelProto: ${err}`);
  return onnx.ModelProto.encode(model).finish();
}

/** Op types and opsets of an encoded model (for the model card). */
export function describeModel(bytes: Uint8Array): { irVersion: number; opsets: { domain: string; version: number }[]; ops: string[]; initializers: number; parameters: number } {
  const m = onnx.ModelProto.decode(bytes);
  const ops = [...new Set((m.graph?.node ?? []).map((n) => (n.domain ? `${n.domain}.${n.opType}` : (n.opType as string))))].sort();
  let parameters = 0;
  for (const t of m.graph?.initializer ?? []) parameters += (t.floatData?.length ?? 0) + (t.int64Data?.length ?? 0);
  return {
    irVersion: Number(m.irVersion),
    opsets: (m.opsetImport ?? []).map((o) => ({ domain: o.domain || 'ai.onnx', version: Number(o.version) })),
    ops,
    initializers: m.graph?.initializer?.length ?? 0,
    parameters,
  };
}
