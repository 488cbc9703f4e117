import { OperationOutcomeError } from '../../fhir/operation-outcome';
import { parseReadingLine } from './readings-import.service';

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
