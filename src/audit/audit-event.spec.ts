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

  it('classifies system-level searches, compartment searches and conditional interactions, naming the Patient and the searched type', () => {
    expect(classify('GET', '/fhir')).toEqual({ interaction: 'search-system', action: 'R' });
    expect(classify('POST', '/fhir/_search')).toEqual({ interaction: 'search-system', action: 'R' });
    expect(classify('POST', '/fhir/Observation/_search')).toEqual({ interaction: 'search-type', action: 'R', queryType: 'Observation' });
    expect(classify('GET', '/fhir/Patient/P1/Observation')).toEqual({ interaction: 'search-type', action: 'R', patient: 'Patient/P1', queryType: 'Observation' });
    expect(classify('GET', '/fhir/Patient/P1/*')).toEqual({ interaction: 'search-system', action: 'R', patient: 'Patient/P1' });
    expect(classify('GET', '/fhir/Patient/P1/$everything')).toMatchObject({ interaction: 'operation', entity: 'Patient/P1', patient: 'Patient/P1' });
    expect(classify('PUT', '/fhir/Patient')).toMatchObject({ interaction: 'update', action: 'U', queryType: 'Patient' });
    expect(classify('DELETE', '/fhir/Observation')).toMatchObject({ interaction: 'delete', action: 'D', queryType: 'Observation' });
  });

  it('names every patient concerned as a Patient entity, once each', () => {
    const e = toAuditEvent(
      { interaction: 'search-type', action: 'R', status: 200, method: 'GET', path: '/fhir/Observation', query: 'patient=P1,P2', patient: ['Patient/P1', 'Patient/P2', 'Patient/P1'], recorded: new Date() },
      'a3',
    );
    expect(() => validateFhirResource(e)).not.toThrow();
    expect(e.entity?.slice(1).map((x) => [x.what?.reference, x.role?.code])).toEqual([
      ['Patient/P1', '1'],
      ['Patient/P2', '1'],
    ]);
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
