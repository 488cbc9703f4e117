import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = OperationOutcomeIssue['code'];

/**
 * The one error type of the FHIR API: an HTTP status and the OperationOutcome that explains it.
 * Thrown anywhere below the controllers; `OperationOutcomeFilter` is the one place that turns it
 * (and every other error) into an HTTP response.
 */
export class OperationOutcomeError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome,
  ) {
    super(outcome.issue?.map((i) => i.diagnostics ?? i.details?.text).join('; ') || `HTTP ${status}`);
  }

  static of(status: number, code: IssueCode, diagnostics: string, expression?: string[]): OperationOutcomeError {
    return new OperationOutcomeError(status, outcome([{ severity: 'error', code, diagnostics, expression }]));
  }
}

export function outcome(issue: OperationOutcomeIssue[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issue.map((i) => {
      const copy = { ...i };
      if (!copy.expression?.length) delete copy.expression;
      return copy;
    }),
  };
}

export function informational(diagnostics: string): OperationOutcome {
  return outcome([{ severity: 'information', code: 'informational', diagnostics }]);
}

export const badRequest = (msg: string, expression?: string[]) => OperationOutcomeError.of(400, 'invalid', msg, expression);
export const notFound = (msg: string) => OperationOutcomeError.of(404, 'not-found', msg);
export const gone = (msg: string) => OperationOutcomeError.of(410, 'deleted', msg);
export const conflict = (msg: string, code: IssueCode = 'conflict') => OperationOutcomeError.of(409, code, msg);
export const preconditionFailed = (msg: string) => OperationOutcomeError.of(412, 'conflict', msg);
export const unauthorized = (msg: string) => OperationOutcomeError.of(401, 'login', msg);
export const forbidden = (msg: string) => OperationOutcomeError.of(403, 'forbidden', msg);
