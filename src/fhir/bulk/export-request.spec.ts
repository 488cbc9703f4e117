import { OperationOutcomeError } from '../operation-outcome';
import { parseKickoff } from './export-request';

const ASYNC = 'respond-async';

describe('parseKickoff', () => {
  it.each(['application/fhir+ndjson', 'application/ndjson', 'ndjson', 'APPLICATION/FHIR+NDJSON'])('accepts _outputFormat %s', (format) => {
    expect(parseKickoff('system', 'GET', [['_outputFormat', format]], ASYNC).ignored).toEqual([]);
  });

  it('accepts application/fhir+ndjson written unencoded in the query (its "+" decoded as a space)', () => {
    const params = [...new URLSearchParams('_outputFormat=application/fhir+ndjson').entries()];
    expect(params).toEqual([['_outputFormat', 'application/fhir ndjson']]);
    expect(() => parseKickoff('system', 'GET', params, ASYNC)).not.toThrow();
  });

  it('still refuses other formats', () => {
    expect(() => parseKickoff('system', 'GET', [['_outputFormat', 'text/csv']], ASYNC)).toThrow(OperationOutcomeError);
    expect(() => parseKickoff('system', 'GET', [['_outputFormat', 'application/fhir json']], ASYNC)).toThrow(/_outputFormat/);
  });

  it('reads _since with an unencoded "+" time zone', () => {
    expect(parseKickoff('system', 'GET', [['_since', '2024-01-31T12:00:00 01:00']], ASYNC).since).toBe('2024-01-31T12:00:00+01:00');
  });
});
