import type { AuthContext, Role } from '../../auth/auth.types';
import { ROLE_SCOPE_CEILING } from '../../auth/auth.types';
import { OperationOutcomeError } from '../../fhir/operation-outcome';
import { requireModelManager, requireModelReader } from './model-access';

const auth = (role: Role, scopes = ROLE_SCOPE_CEILING[role]): AuthContext => ({ clientId: `${role}-1`, role, scopes, ...(role === 'patient' ? { patient: 'p1' } : {}) });
const status = (fn: () => unknown) => {
  try {
    fn();
    return 200;
  } catch (e) {
    return (e as OperationOutcomeError).status;
  }
};

describe('model registry access', () => {
  it('lets data scientists and administrators manage versions, naming them as the actor', () => {
    expect(requireModelManager(auth('data-scientist'), 'x')).toBe('client:data-scientist-1');
    expect(requireModelManager(auth('admin'), 'x')).toBe('client:admin-1');
  });

  it('refuses the other roles (403), a data scientist token without the models scope, and no token (401)', () => {
    for (const role of ['clinician', 'ehr-system', 'patient'] as Role[]) expect([role, status(() => requireModelManager(auth(role), 'x'))]).toEqual([role, 403]);
    expect(status(() => requireModelManager(auth('data-scientist', ['system/*.rs']), 'x'))).toBe(403);
    expect(status(() => requireModelManager(undefined, 'x'))).toBe(401);
  });

  it('lets every role but patients read the registry', () => {
    for (const role of ['admin', 'data-scientist', 'clinician', 'ehr-system'] as Role[]) expect([role, status(() => requireModelReader(auth(role)))]).toEqual([role, 200]);
    expect(status(() => requireModelReader(auth('patient')))).toBe(403);
    expect(status(() => requireModelReader(undefined))).toBe(401);
  });
});
