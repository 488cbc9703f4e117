import { parseFhirJson, scanJson } from './fhir-json';
import { cloneFhirJson, positionalLexeme, stringifyFhirJson } from './lexemes';
import { canonicalJson } from '../canonical-json';
import { OperationOutcomeError } from '../operation-outcome';

const OBSERVATION = '{"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"mg"},"referenceRange":[{"high":{"value":123456789012345678.5},"low":{"value":1.0}}],"component":[{"valueDecimal":1E-7}],"note":[{"text":"1.50 and 2.0e3 in a string"}]}';

describe('parseFhirJson / stringifyFhirJson', () => {
  it('keeps the lexemes a double would change, and only those, while the values stay numbers', () => {
    const o = parseFhirJson(OBSERVATION) as any;
    expect(o.valueQuantity.value).toBe(1.5);
    expect(o.referenceRange[0].high.value).toBe(123456789012345678.5);
    expect(o.referenceRange[0].low.value).toBe(1);
    expect(o.component[0].valueDecimal).toBe(1e-7);
    expect(o.note[0].text).toBe('1.50 and 2.0e3 in a string');
    expect(stringifyFhirJson(o)).toBe(OBSERVATION);
    // Everything else in the server sees plain numbers: JSON.stringify writes them as before.
    expect(JSON.stringify(o)).toContain('"value":1.5,');
    expect(Object.keys(o.valueQuantity)).toEqual(['value', 'unit']);
  });

  it('costs a plain JSON.parse when no number needs its lexeme', () => {
    const text = '{"resourceType":"Observation","valueQuantity":{"value":82.4},"valueInteger":3,"x":[-0.5,12345678901]}';
    expect(scanJson(text).lexemes).toEqual([]);
    expect(stringifyFhirJson(parseFhirJson(text))).toBe(text);
  });

  it('keeps lexemes of numbers in arrays, negative zero and pretty printing', () => {
    const o = parseFhirJson('{"a":[1.10,2,-0],"b":-0.0}');
    expect(stringifyFhirJson(o)).toBe('{"a":[1.10,2,-0],"b":-0.0}');
    expect(stringifyFhirJson(o, 2)).toBe('{\n  "a": [\n    1.10,\n    2,\n    -0\n  ],\n  "b": -0.0\n}');
  });

  it('writes the new number where the value was changed, the lexeme where it was not', () => {
    const o = parseFhirJson('{"q":{"value":1.50,"low":2.0}}') as any;
    o.q.value = 1.75;
    expect(stringifyFhirJson(o)).toBe('{"q":{"value":1.75,"low":2.0}}');
  });

  it('keeps lexemes through cloneFhirJson, and a string cannot pass for a kept number', () => {
    const o = parseFhirJson('{"q":{"value":1.50},"s":"\\u0000abc1.50"}') as any;
    expect(stringifyFhirJson(cloneFhirJson(o))).toBe('{"q":{"value":1.50},"s":"\\u0000abc1.50"}');
    expect(o.s).toBe('\u0000abc1.50');
  });

  it('still refuses malformed JSON, a number as a key included', () => {
    expect(() => parseFhirJson('{1.50: 2}')).toThrow(SyntaxError);
    expect(() => parseFhirJson('{"a": 1.50 1.50}')).toThrow(SyntaxError);
    expect(() => parseFhirJson('{"a": 01.50}')).toThrow(SyntaxError);
  });

  it('refuses a lone surrogate with its path, and takes a surrogate pair', () => {
    const at = (text: string) => {
      try {
        parseFhirJson(text);
        return 'accepted';
      } catch (e) {
        return (e as OperationOutcomeError).outcome.issue?.[0].diagnostics;
      }
    };
    expect(at('{"resourceType":"Patient","name":[{"family":"bad\\ud800"}]}')).toBe('A string holds a lone surrogate at Patient.name[0].family');
    expect(at('{"resourceType":"Patient","name":[{"given":["x","\\uDC00y"]}]}')).toBe('A string holds a lone surrogate at Patient.name[0].given[1]');
    expect(at('{"resourceType":"Patient","name":[{"family":"smile \\ud83d\\ude00"}]}')).toBe('accepted');
    expect(at('{"resourceType":"Patient","name":[{"family":"not an escape \\\\ud800"}]}')).toBe('accepted');
  });

  it('refuses nesting deeper than the limit', () => {
    expect(() => scanJson('['.repeat(101) + ']'.repeat(101))).toThrow(OperationOutcomeError);
    expect(() => scanJson('"' + '['.repeat(200) + '"')).not.toThrow();
  });

  it('positionalLexeme writes a lexeme as jsonb stores it', () => {
    const cases: Record<string, string> = { '1.2e10': '12000000000', '1.0e-7': '0.00000010', '1E-7': '0.0000001', '1.20e3': '1200', '-0': '0', '-0.0': '0.0', '1.50': '1.50', '-1.5e-2': '-0.015', '0.5e1': '5' };
    for (const [lexeme, stored] of Object.entries(cases)) expect([lexeme, positionalLexeme(lexeme)]).toEqual([lexeme, stored]);
  });

  it('canonicalJson tells 1.50 from 1.5, and takes 1.2e10 for the 12000000000 jsonb gives back', () => {
    expect(canonicalJson(parseFhirJson('{"v":1.2e10}'))).toBe(canonicalJson(parseFhirJson('{"v":12000000000}')));
    expect(canonicalJson(parseFhirJson('{"v":1.50}'))).not.toBe(canonicalJson(parseFhirJson('{"v":1.5}')));
    expect(canonicalJson(parseFhirJson('{"v":[1.50]}'))).toBe('{"v":[1.50]}');
  });
});
