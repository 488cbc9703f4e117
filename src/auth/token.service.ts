import { Inject, Injectable } from '@nestjs/common';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { APP_CONFIG } from '../core/tokens';
import type { AppConfig } from '../config/app-config';
import type { AuthContext, Role } from './auth.types';
import type { ClientRecord } from './client.repository';
import { SigningKeyService, TOKEN_ALG } from './signing-key.service';
import { isCoveredBy } from './access/scopes';

export const TOKEN_ISSUER = 'fhir-ai-server';
export const TOKEN_AUDIENCE = 'fhir-ai-server/fhir';

export class InvalidTokenError extends Error {}

/** Issues and verifies the server's own bearer tokens (signed JWTs). */
@Injectable()
export class TokenService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly keys: SigningKeyService,
  ) {}

  /** The scopes granted: those requested that the client's scopes cover, or all it holds when none are asked for. */
  grantScopes(client: ClientRecord, requested: string | undefined): string[] {
    if (!requested?.trim()) return client.scopes;
    const wanted = requested.trim().split(/\s+/);
    return [...new Set(wanted.filter((s) => isCoveredBy(s, client.scopes)))];
  }

  async issue(client: ClientRecord, scopes: string[]): Promise<{ token: string; expiresIn: number }> {
    const { kid, key } = this.keys.signingKey();
    const expiresIn = this.config.tokenTtlSeconds;
    const token = await new SignJWT({
      scope: scopes.join(' '),
      role: client.role,
      ...(client.patientId ? { patient: client.patientId } : {}),
      ...(client.practitionerId ? { fhirUser: `Practitioner/${client.practitionerId}` } : {}),
    })
      .setProtectedHeader({ alg: TOKEN_ALG, kid, typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(client.clientId)
      .setIssuedAt()
      .setExpirationTime(`${expiresIn}s`)
      .setJti(crypto.randomUUID())
      .sign(key);
    return { token, expiresIn };
  }

  async verify(token: string): Promise<AuthContext> {
    try {
      const { payload } = await jwtVerify(token, async (header) => {
        const key = this.keys.verificationKey(header.kid);
        if (!key) throw new InvalidTokenError('unknown signing key');
        return key;
      }, { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, algorithms: [TOKEN_ALG] });
      const fhirUser = typeof payload.fhirUser === 'string' ? payload.fhirUser : undefined;
      return {
        clientId: String(payload.sub),
        role: payload.role as Role,
        scopes: String(payload.scope ?? '').split(' ').filter(Boolean),
        patient: typeof payload.patient === 'string' ? payload.patient : undefined,
        practitioner: fhirUser?.startsWith('Practitioner/') ? fhirUser.slice('Practitioner/'.length) : undefined,
      };
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new InvalidTokenError('the token has expired');
      if (e instanceof InvalidTokenError) throw e;
      throw new InvalidTokenError('the token is not valid');
    }
  }
}
