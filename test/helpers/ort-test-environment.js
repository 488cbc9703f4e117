/**
 * A jest environment for specs that run onnxruntime-node. The native binding creates its output
 * typed arrays in Node's own realm, while onnxruntime-common (loaded inside jest's sandbox) checks
 * `data instanceof Float32Array` against the sandbox's constructors, so every session.run fails
 * with "A float32 tensor's data must be type of function Float32Array()". Sharing the host realm's
 * typed-array constructors with the sandbox fixes it. Use with a docblock at the top of the spec:
 *   @jest-environment ./test/helpers/ort-test-environment.js
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class OrtTestEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = OrtTestEnvironment;
