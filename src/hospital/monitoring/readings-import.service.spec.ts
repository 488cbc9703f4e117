import { OperationOutcomeError } from '../../fhir/operation-outcome';
import { parseReadingLine } from './readings-import.service';
import { stringifyFhirJson } from '../../fhir/json/lexemes';

const refusal = (text: string): OperationOutcomeError => {
  try {
    parseReadingLine({ line: 7, text });
  } catch (e) {
    return e as OperationOutcomeError;
  }
  throw new Error('not refused');
};

describe('parseReadingLine', () => {
  it('takes an Observation', () => {
    expect(parseReadingLine({ line: 1, text: '{"resourceType":"Observation","status":"final"}' })).toEqual({ resourceType: 'Observation', status: 'final' });
  });

  it('keeps the decimal as written, as any FHIR body', () => {
    const o = parseReadingLine({ line: 1, text: '{"resourceType":"Observation","status":"final","valueQuantity":{"value":37.50,"unit":"Cel"}}' });
    expect(stringifyFhirJson(o)).toContain('"value":37.50');
  });

  it.each([
    ['a lone surrogate', '{"resourceType":"Observation","status":"\\ud800"}', /lone surrogate/],
    ['an integer written as a decimal', '{"resourceType":"Observation","status":"final","valueInteger":2.0}', /integer/i],
    ['bytes that are not UTF-8 (ndjsonLines says so)', '', /"line 7: not valid UTF-8"/],
  ])('refuses %s with a 400', (what, text, message) => {
    let e: OperationOutcomeError | undefined;
    try {
      parseReadingLine({ line: 7, text, ...(text ? {} : { problem: 'not valid UTF-8' }) });
    } catch (x) {
      e = x as OperationOutcomeError;
    }
    expect([what, e?.status]).toEqual([what, 400]);
    expect(JSON.stringify(e?.outcome)).toMatch(message);
  });

  it.each([
    ['text that is not JSON', '{"resourceType":', /^line 7: not JSON/],
    ['an array', '[1,2]', /^line 7: not a JSON object/],
    ['another resource type', '{"resourceType":"Patient"}', /^line 7: each line must be an Observation, not Patient/],
    ['JSON nested too deep', `${'['.repeat(200)}${']'.repeat(200)}`, /^line 7: .*nested deeper/],
  ])('refuses %s with a 400 naming the line', (_what, text, message) => {
    const e = refusal(text);
    expect(e).toBeInstanceOf(OperationOutcomeError);
    expect(e.status).toBe(400);
    expect(e.outcome.issue?.[0].diagnostics).toMatch(message);
  });
});
