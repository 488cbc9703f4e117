import { readFileSync } from 'node:fs';
import path from 'node:path';
import { onnx } from 'onnx-proto';
import { MalformedModelError, externalDataTensors } from './onnx-external-data';

const ROOT = path.resolve(__dirname, '../../..');
const external = (name: string): onnx.ITensorProto => ({ name, dataType: 1, dims: [1], dataLocation: 1, externalData: [{ key: 'location', value: 'secret.bin' }] });
const tensor = (name: string): onnx.ITensorProto => ({ name, dataType: 1, dims: [1], floatData: [1] });
const model = (graph: onnx.IGraphProto, functions: onnx.IFunctionProto[] = []) => onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph, functions })).finish();

describe('externalDataTensors', () => {
  it.each(['cad-cleveland', 'breast-wdbc', 'triage-news2', 'sentiment-uci'])('finds none in the built-in %s', (name) => {
    expect(externalDataTensors(readFileSync(path.join(ROOT, 'models', name, 'model.onnx')))).toEqual([]);
  });

  it('finds an initializer with external data', () => {
    expect(externalDataTensors(model({ name: 'g', initializer: [tensor('ok'), external('w')] }))).toEqual(['w']);
  });

  it('finds one kept only by its external_data entries, in a Constant node, a subgraph, a sparse initializer and a function', () => {
    const byEntries: onnx.ITensorProto = { name: 'e', dataType: 1, dims: [1], externalData: [{ key: 'location', value: 'x' }] };
    const constant: onnx.INodeProto = { opType: 'Constant', output: ['c'], attribute: [{ name: 'value', type: 4, t: external('c') }] };
    const branch: onnx.IGraphProto = { name: 'then', initializer: [external('inner')] };
    const ifNode: onnx.INodeProto = { opType: 'If', input: ['cond'], output: ['y'], attribute: [{ name: 'then_branch', type: 5, g: branch }] };
    const sparse: onnx.ISparseTensorProto = { values: external('sv'), indices: tensor('si'), dims: [4] };
    const fn: onnx.IFunctionProto = { name: 'f', domain: 'x', node: [{ opType: 'Constant', output: ['k'], attribute: [{ name: 'value', type: 4, t: external('fk') }] }] };
    const found = externalDataTensors(model({ name: 'g', initializer: [byEntries], node: [constant, ifNode], sparseInitializer: [sparse] }, [fn]));
    expect(found.sort()).toEqual(['c', 'e', 'fk', 'inner', 'sv']);
  });

  it('refuses bytes that are not protobuf', () => {
    expect(() => externalDataTensors(Buffer.from('this is not an ONNX model'))).toThrow(MalformedModelError);
    expect(() => externalDataTensors(Uint8Array.from([0x3a, 0x05, 0x01]))).toThrow(MalformedModelError);
  });
});
