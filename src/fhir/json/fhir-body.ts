import { OperationOutcomeError, outcome } from '../operation-outcome';
import { integerProblems } from '../definitions/integer-values';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { parseFhirJson, scanJson } from './fhir-json';

/**
 * A FHIR JSON body as the server takes it in: nesting limited, decimal lexemes kept, lone
 * surrogates refused (fhir-json.ts), and an integer element written as a decimal (`1.0`, `1e2`)
 * refused here, where the lexemes are still known (Bundle entries are validated on other threads,
 * which do not see them). Throws JSON.parse's SyntaxError or a 400 OperationOutcome.
 */
export function parseFhirBody(text: string): unknown {
  const scan = scanJson(text);
  const value = parseFhirJson(text, scan);
  if (scan.integralLexemes && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    loadFhirDefinitions();
    const issues = integerProblems(value);
    if (issues.length) throw new OperationOutcomeError(400, outcome(issues));
  }
  return value;
}
