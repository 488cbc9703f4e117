import { OperationOutcomeError } from '../../fhir/operation-outcome';
import type { StockVerdict } from './stock';

/**
 * The refusal of a prescription or dispense the stock cannot serve: 409 when there are too few
 * units (the inventory's state conflicts with the request), 422 when the only units left are of
 * expired batches (a business rule: expired drugs are never supplied).
 */
export function stockRefusal(verdict: Exclude<StockVerdict, { ok: true }>, what: string, expression: string): OperationOutcomeError {
  const message = `${what} refused: ${verdict.message}`;
  return verdict.problem === 'expired'
    ? OperationOutcomeError.of(422, 'business-rule', message, [expression])
    : OperationOutcomeError.of(409, 'conflict', message, [expression]);
}
