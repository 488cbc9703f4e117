import type { AuthContext } from '../../auth/auth.types';
import { forbidden, unauthorized } from '../../fhir/operation-outcome';

/**
 * Who may do what with the model registry. Pure.
 * - register, shadow, promote, roll back, download the file: data scientists (scope "models") and
 *   administrators (scope "admin");
 * - list and read the versions (manifest, status, history): also clinicians and EHR systems, who
 *   see which version made a prediction (the same facts as the Device resources);
 * - patients: nothing (they read the Device of a prediction through FHIR).
 * Returns the audit actor.
 */
export function requireModelManager(auth: AuthContext | undefined, what: string): string {
  if (!auth) throw unauthorized('A bearer token is required');
  if (!auth.scopes.includes('models') && !auth.scopes.includes('admin')) throw forbidden(`Only data scientists (scope "models") and administrators may ${what}`);
  return `client:${auth.clientId}`;
}

export function requireModelReader(auth: AuthContext | undefined): void {
  if (!auth) throw unauthorized('A bearer token is required');
  if (auth.role === 'patient' || auth.patient) throw forbidden('Patient-context tokens cannot read the model registry');
}
