import { Inject, Injectable } from '@nestjs/common';
import { SignJWT, createRemoteJWKSet, decodeJwt, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import { APP_CONFIG } from '../core/tokens';
import type { AppConfig } from '../config/app-config';
import { ROLE_SCOPE_CEILING, type AuthContext, type Role } from './auth.types';
import type { ClientRecord } from './client.repository';
import { SigningKeyService, TOKEN_ALG } from './signing-key.service';
import { isCoveredBy } from './access/scopes';

export const TOKEN_ISSUER = 'fhir-ai-server';
export const TOKEN_AUDIENCE = 'fhir-ai-server/fhir';

export class InvalidTokenError extends Error {}

/** Issues and verifies the server's own bearer tokens (signed JWTs). */
@Injectable()
export class TokenService {
  private readonly oidc?: { issuer: string; audience: string; jwks: ReturnType<typeof createRemoteJWKSet> };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly keys: SigningKeyService,
  ) {
    if (config.oidc) this.oidc = { ...config.oidc, jwks: createRemoteJWKSet(new URL(config.oidc.jwksUrl)) };
  }

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
      gen: client.tokenGeneration ?? 0,
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

  /** Verifies a bearer token: one of ours, or, when configured, one from the hospital's OpenID Connect issuer. */
  /**
   * Verified tokens, by their text, until they expire: a client sends the same token with every
   * request, and checking an ECDSA signature costs more than the rest of a read. Revocation is
   * checked apart (AuthGuard), so a cached token of a revoked client is still refused.
   */
  private readonly verified = new Map<string, { context: AuthContext; expiresAt: number }>();

  async verify(token: string): Promise<AuthContext> {
    const hit = this.verified.get(token);
    if (hit && hit.expiresAt > Date.now()) return hit.context;
    if (hit) this.verified.delete(token);
    const context = await this.verifyUncached(token);
    const exp = decodeJwt(token).exp;
    if (typeof exp === 'number') {
      if (this.verified.size >= 10_000) this.verified.delete(this.verified.keys().next().value as string); // oldest first
      this.verified.set(token, { context, expiresAt: exp * 1000 });
    }
    return context;
  }

  private async verifyUncached(token: string): Promise<AuthContext> {
    try {
      if (this.oidc && unverifiedIssuer(token) === this.oidc.issuer) return await this.verifyExternal(token);
      const { payload } = await jwtVerify(token, async (header) => {
        const key = this.keys.verificationKey(header.kid);
        if (!key) throw new InvalidTokenError('unknown signing key');
        return key;
      }, { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, algorithms: [TOKEN_ALG] });
      return contextOf(payload, String(payload.sub), payload.role as Role, String(payload.scope ?? '').split(' ').filter(Boolean));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new InvalidTokenError('the token has expired');
      if (e instanceof InvalidTokenError) throw e;
      throw new InvalidTokenError('the token is not valid');
    }
  }

  /**
   * A token from the external issuer: signature by its JWKS, issuer and audience as configured. Its
   * role comes from the `fhir_role` (or `role`) claim, defaulting to ehr-system, and its scopes
   * (`scope` or `scp`) are cut down to that role's ceiling. Its client is `oidc:<sub>`.
   */
  private async verifyExternal(token: string): Promise<AuthContext> {
    const oidc = this.oidc as NonNullable<typeof this.oidc>;
    const { payload } = await jwtVerify(token, oidc.jwks, { issuer: oidc.issuer, audience: oidc.audience });
    const claimed = String(payload.fhir_role ?? payload.role ?? 'ehr-system');
    if (!Object.hasOwn(ROLE_SCOPE_CEILING, claimed)) throw new InvalidTokenError(`unknown role "${claimed}"`);
    const role = claimed as Role;
    const raw = Array.isArray(payload.scp) ? payload.scp.map(String) : String(payload.scope ?? '').split(' ');
    const scopes = raw.filter(Boolean).filter((s) => isCoveredBy(s, ROLE_SCOPE_CEILING[role]));
    return contextOf(payload, `oidc:${String(payload.sub)}`, role, scopes);
  }
}

function unverifiedIssuer(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

function contextOf(payload: JWTPayload, clientId: string, role: Role, scopes: string[]): AuthContext {
  const fhirUser = typeof payload.fhirUser === 'string' ? payload.fhirUser : undefined;
  return {
    clientId,
    role,
    scopes,
    patient: typeof payload.patient === 'string' ? payload.patient : undefined,
    practitioner: fhirUser?.startsWith('Practitioner/') ? fhirUser.slice('Practitioner/'.length) : undefined,
    generation: typeof payload.gen === 'number' ? payload.gen : 0,
  };
}
