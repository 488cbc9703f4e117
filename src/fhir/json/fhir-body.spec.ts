import { parseFhirBody } from './fhir-body';
import { stringifyFhirJson } from './lexemes';
import { OperationOutcomeError } from '../operation-outcome';

function refusal(text: string): Array<{ path?: string; text?: string }> {
  try {
    parseFhirBody(text);
    return [];
  } catch (e) {
    return ((e as OperationOutcomeError).outcome.issue ?? []).map((i) => ({ path: i.expression?.[0], text: i.diagnostics }));
  }
}

describe('parseFhirBody', () => {
  it('refuses an integer element written as a decimal or with an exponent, naming it', () => {
    expect(refusal('{"resourceType":"Patient","multipleBirthInteger":1.0}')).toEqual([{ path: 'Patient.multipleBirthInteger', text: '1.0 is not a valid integer: an integer has no decimal point or exponent' }]);
    expect(refusal('{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","multipleBirthInteger":1e2}}]}')).toEqual([
      expect.objectContaining({ path: 'Bundle.entry[0].resource.multipleBirthInteger' }),
    ]);
    expect(refusal('{"resourceType":"Patient","multipleBirthInteger":1}')).toEqual([]);
  });

  it('keeps a decimal element written as a whole number with a fraction', () => {
    const text = '{"resourceType":"Observation","valueQuantity":{"value":1.0}}';
    expect(refusal(text)).toEqual([]);
    expect(stringifyFhirJson(parseFhirBody(text))).toBe(text);
  });
});
