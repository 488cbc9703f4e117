import { fhirResourceTypes } from '../../fhir/definitions/fhir-definitions';
import type { AuthContext } from '../auth.types';
import { AccessPolicy } from './access-policy';

describe('AccessPolicy.readableOf', () => {
  const types = [...fhirResourceTypes()];
  const grants: AuthContext[] = [
    { clientId: 'admin', role: 'admin', scopes: ['admin', 'system/*.cruds'] },
    { clientId: 'ehr', role: 'ehr-system', scopes: ['system/*.cruds'] },
    { clientId: 'ehr-obs', role: 'ehr-system', scopes: ['system/Observation.rs', 'system/Patient.r'] },
    { clientId: 'pat', role: 'patient', scopes: ['patient/*.rs'], patient: 'p1' },
    { clientId: 'pat-unbound', role: 'patient', scopes: ['patient/*.rs'] },
    { clientId: 'ds', role: 'data-scientist', scopes: ['system/*.rs'] },
    { clientId: 'ds-devices', role: 'data-scientist', scopes: ['system/*.rs'], registryDevices: true },
    { clientId: 'none', role: 'ehr-system', scopes: [] },
  ];

  it('answers as allows(auth, type, "r") for every type and grant, asked twice and interleaved', () => {
    const policy = new AccessPolicy();
    for (let round = 0; round < 2; round++) {
      for (const auth of grants) {
        const expected = types.filter((t) => policy.allows(auth, t, 'r'));
        expect([auth.clientId, policy.readableOf(auth, types)]).toEqual([auth.clientId, expected]);
      }
    }
    expect(policy.readableOf(undefined, types)).toEqual([]);
  });

  it('keeps grants apart that differ only in scopes or marks, and answers for the types asked, in their order', () => {
    const policy = new AccessPolicy();
    const obs = policy.readableOf(grants[2], ['Patient', 'Observation', 'Encounter', 'AuditEvent']);
    expect(obs).toEqual(['Patient', 'Observation']);
    expect(policy.readableOf(grants[1], ['Encounter', 'Patient', 'AuditEvent'])).toEqual(['Encounter', 'Patient']);
    expect(policy.readableOf(grants[0], ['AuditEvent', 'Subscription'])).toEqual(['AuditEvent', 'Subscription']);
    expect(policy.readableOf(grants[5], ['Device', 'Patient'])).toEqual([]);
    expect(policy.readableOf(grants[6], ['Device', 'Patient'])).toEqual(['Device']);
  });

  it('stays bounded when every token brings a scope set of its own', () => {
    const policy = new AccessPolicy();
    for (let i = 0; i < 1000; i++) {
      expect(policy.readableOf({ clientId: 'x', role: 'ehr-system', scopes: [`system/Observation.r`, `system/Basic${i}.r`] }, ['Observation', 'Patient'])).toEqual(['Observation']);
    }
    expect((policy as unknown as { readableByGrant: Map<string, unknown> }).readableByGrant.size).toBeLessThanOrEqual(256);
  });
});
