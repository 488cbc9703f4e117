/**
 * Finds tensors that keep their data in external files. onnxruntime resolves such a path relative
 * to the process's working directory even for a model loaded from bytes, so an uploaded model could
 * read the server's files into its weights (and out through its outputs): a registered model must
 * be self-contained. A small reader of the protobuf wire format that follows only the messages
 * that can hold tensors (ONNX's onnx.proto field numbers). Pure.
 */
const MESSAGES: Record<string, Record<number, string>> = {
  Model: { 7: 'Graph', 25: 'Function' },
  Graph: { 1: 'Node', 5: 'Tensor', 15: 'Sparse' },
  Function: { 7: 'Node' },
  Node: { 5: 'Attribute' },
  Attribute: { 5: 'Tensor', 6: 'Graph', 10: 'Tensor', 11: 'Graph', 22: 'Sparse', 23: 'Sparse' },
  Sparse: { 1: 'Tensor', 2: 'Tensor' },
  Tensor: {},
};
const TENSOR_NAME = 8;
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14; // 1: EXTERNAL
const MAX_DEPTH = 64;

export class MalformedModelError extends Error {}

/** The names of tensors with external data (empty when self-contained); throws MalformedModelError for bytes that are not protobuf. */
export function externalDataTensors(bytes: Uint8Array): string[] {
  const found: string[] = [];
  walk(bytes, 0, bytes.length, 'Model', 0, found);
  return found;
}

function walk(b: Uint8Array, start: number, end: number, type: string, depth: number, found: string[]): void {
  if (depth > MAX_DEPTH) throw new MalformedModelError('graphs nested too deeply');
  const children = MESSAGES[type];
  let pos = start;
  let name = '';
  let external = false;
  while (pos < end) {
    const [key, afterKey] = varint(b, pos, end);
    pos = afterKey;
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new MalformedModelError('field number 0');
    if (wire === 0) {
      const [value, next] = varint(b, pos, end);
      if (type === 'Tensor' && field === TENSOR_DATA_LOCATION && value === 1) external = true;
      pos = next;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [length, next] = varint(b, pos, end);
      const stop = next + length;
      if (stop > end) throw new MalformedModelError('a field runs past its message');
      if (children[field]) walk(b, next, stop, children[field], depth + 1, found);
      else if (type === 'Tensor' && field === TENSOR_NAME) name = Buffer.from(b.subarray(next, stop)).toString('utf8');
      else if (type === 'Tensor' && field === TENSOR_EXTERNAL_DATA) external = true;
      pos = stop;
    } else throw new MalformedModelError(`wire type ${wire}`);
    if (pos > end) throw new MalformedModelError('a field runs past its message');
    if (children[field] && wire !== 2) throw new MalformedModelError(`field ${field} of ${type} is not a message`);
  }
  if (external) found.push(name || '(unnamed)');
}

function varint(b: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new MalformedModelError('truncated varint');
    const byte = b[pos++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
    scale *= 128;
  }
  throw new MalformedModelError('varint too long');
}
