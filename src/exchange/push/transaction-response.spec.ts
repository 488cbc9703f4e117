import type { Bundle } from '@medplum/fhirtypes';
import { transactionResponseProblem } from './transaction-response';

const sent: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Device' } }, { request: { method: 'POST', url: 'RiskAssessment' } }] };
const ok = (status: string) => ({ response: { status } });

describe('transactionResponseProblem', () => {
  it('takes one successful response entry per request entry', () => {
    expect(transactionResponseProblem(sent, { resourceType: 'Bundle', type: 'transaction-response', entry: [ok('201 Created'), ok('200')] })).toBeUndefined();
  });

  it('refuses anything else, saying why', () => {
    expect(transactionResponseProblem(sent, { resourceType: 'Bundle', type: 'transaction-response', entry: [] })).toBe('0 response entries for 2 request entries');
    expect(transactionResponseProblem(sent, { resourceType: 'Bundle', type: 'transaction-response' })).toBe('0 response entries for 2 request entries');
    expect(transactionResponseProblem(sent, { resourceType: 'Bundle', type: 'batch-response', entry: [ok('201'), ok('201')] })).toMatch(/type "batch-response"/);
    expect(transactionResponseProblem(sent, { resourceType: 'OperationOutcome' })).toMatch(/not a Bundle \(OperationOutcome\)/);
    expect(transactionResponseProblem(sent, { resourceType: 'Bundle', type: 'transaction-response', entry: [ok('201'), {}] })).toBe('response entry 1 has no status');
    expect(transactionResponseProblem(sent, { resourceType: 'Bundle', type: 'transaction-response', entry: [ok('201'), ok('412 Precondition Failed')] })).toMatch(/status "412 Precondition Failed", not a success/);
    expect(transactionResponseProblem(sent, null)).toMatch(/not a Bundle/);
  });
});
