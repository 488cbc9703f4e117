import { allows, isCoveredBy, isPatientContext, parseScope } from './scopes';

describe('SMART scopes', () => {
  it('parses v2 permissions and v1 forms', () => {
    expect(parseScope('system/*.cruds')).toEqual({ context: 'system', resourceType: '*', permissions: new Set(['c', 'r', 'u', 'd', 's']) });
    expect([...(parseScope('patient/Observation.rs')?.permissions ?? [])]).toEqual(['r', 's']);
    expect([...(parseScope('user/Patient.read')?.permissions ?? [])]).toEqual(['r', 's']);
    expect([...(parseScope('user/Patient.write')?.permissions ?? [])]).toEqual(['c', 'u', 'd']);
    expect(parseScope('openid')).toBeUndefined();
    expect(parseScope('system/Patient.')).toBeUndefined();
    expect(parseScope('system/Patient.rc')).toBeUndefined(); // v2 order is c r u d s
    expect(parseScope('robot/Patient.r')).toBeUndefined();
  });

  it('grants by type or wildcard, per permission', () => {
    expect(allows(['system/Patient.rs'], 'Patient', 'r')).toBe(true);
    expect(allows(['system/Patient.rs'], 'Patient', 'c')).toBe(false);
    expect(allows(['system/Patient.rs'], 'Observation', 'r')).toBe(false);
    expect(allows(['user/*.cruds'], 'Observation', 'd')).toBe(true);
    expect(allows(['admin', 'models'], 'Patient', 'r')).toBe(false);
  });

  it('lets a client ask only for what its scopes cover', () => {
    expect(isCoveredBy('system/Patient.rs', ['system/*.cruds'])).toBe(true);
    expect(isCoveredBy('system/Patient.cruds', ['system/*.rs'])).toBe(false);
    expect(isCoveredBy('user/Patient.r', ['system/*.cruds'])).toBe(false);
    expect(isCoveredBy('admin', ['system/*.cruds', 'admin'])).toBe(true);
    expect(isCoveredBy('admin', ['system/*.cruds'])).toBe(false);
  });

  it('knows a patient-context token', () => {
    expect(isPatientContext(['patient/*.rs'])).toBe(true);
    expect(isPatientContext(['patient/*.rs', 'user/Practitioner.r'])).toBe(false);
    expect(isPatientContext(['openid'])).toBe(false);
  });
});
