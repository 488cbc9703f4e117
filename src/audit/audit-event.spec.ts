import { validateFhirResource } from '../fhir/definitions/resource-validator';
import { classify, toAuditEvent } from './audit-event';

describe('AuditEvent mapping', () => {
  it('classifies FHIR interactions from method and path', () => {
    expect(classify('GET', '/fhir/Patient/123')).toEqual({ interaction: 'read', action: 'R', entity: 'Patient/123' });
    expect(classify('GET', '/fhir/Patient/123/_history/2')).toEqual({ interaction: 'vread', action: 'R', entity: 'Patient/123' });
    expect(classify('GET', '/fhir/Patient/123/_history')).toMatchObject({ interaction: 'history-instance' });
    expect(classify('GET', '/fhir/Patient/_history')).toMatchObject({ interaction: 'history-type' });
    expect(classify('GET', '/fhir/_history')).toMatchObject({ interaction: 'history-system' });
    expect(classify('GET', '/fhir/Observation')).toMatchObject({ interaction: 'search-type', action: 'R' });
    expect(classify('POST', '/fhir/Observation')).toEqual({ interaction: 'create', action: 'C' });
    expect(classify('PUT', '/fhir/Observation/1')).toMatchObject({ interaction: 'update', action: 'U' });
    expect(classify('PATCH', '/fhir/Observation/1')).toMatchObject({ interaction: 'patch', action: 'U' });
    expect(classify('DELETE', '/fhir/Observation/1')).toMatchObject({ interaction: 'delete', action: 'D' });
    expect(classify('POST', '/fhir')).toMatchObject({ interaction: 'transaction' });
    expect(classify('GET', '/fhir/Patient/1/$everything')).toMatchObject({ interaction: 'operation', entity: 'Patient/1' });
    expect(classify('POST', '/auth/token')).toMatchObject({ interaction: 'login' });
    expect(classify('GET', '/fhir/metadata')).toBeUndefined();
    expect(classify('GET', '/health')).toBeUndefined();
  });

  it('makes valid R4 AuditEvents, failures included', () => {
    const ok = toAuditEvent(
      { interaction: 'read', action: 'R', status: 200, clientId: 'ehr-1', address: '10.0.0.5', requestId: 'req-1', method: 'GET', path: '/fhir/Patient/1', entity: 'Patient/1', recorded: new Date('2026-01-01T00:00:00Z') },
      'a1',
    );
    expect(() => validateFhirResource(ok)).not.toThrow();
    expect(ok.outcome).toBe('0');
    expect(ok.entity?.[0].what?.reference).toBe('Patient/1');
    const failed = toAuditEvent({ interaction: 'login', action: 'E', status: 401, method: 'POST', path: '/auth/token', recorded: new Date() }, 'a2');
    expect(() => validateFhirResource(failed)).not.toThrow();
    expect(failed.outcome).toBe('4');
    expect(failed.type.code).toBe('110114');
  });
});
