import { OperationOutcomeError } from '../fhir/operation-outcome';
import { assertJsonDepth } from './json-depth';

describe('assertJsonDepth', () => {
  it('accepts ordinary resources and brackets inside strings', () => {
    expect(() => assertJsonDepth('{"resourceType":"Patient","name":[{"given":["[[[[[["]}]}', 4)).not.toThrow();
    expect(() => assertJsonDepth('{"a":"\\"[[[["}', 1)).not.toThrow();
  });

  it('refuses deeper nesting with a 400 OperationOutcome', () => {
    const bomb = '['.repeat(100000) + ']'.repeat(100000);
    try {
      assertJsonDepth(bomb);
      throw new Error('not refused');
    } catch (e) {
      expect(e).toBeInstanceOf(OperationOutcomeError);
      expect((e as OperationOutcomeError).status).toBe(400);
    }
    expect(() => assertJsonDepth('{"a":{"b":{"c":1}}}', 2)).toThrow(OperationOutcomeError);
  });
});
