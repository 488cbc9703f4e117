import type { Request } from 'express';
import type { AuthContext } from '../auth/auth.types';
import type { TxContext } from '../database/database.service';
import { forbidden, unauthorized } from '../fhir/operation-outcome';

/** Connections are the administrators' alone (scope "admin"). The audit actor and request id of the caller. */
export function adminContext(req: Request): TxContext {
  const auth: AuthContext | undefined = req.auth;
  if (!auth) throw unauthorized('A bearer token is required');
  if (!auth.scopes.includes('admin')) throw forbidden('Only administrators manage connections to external FHIR servers (scope "admin")');
  return { actor: `client:${auth.clientId}`, requestId: req.requestId };
}
