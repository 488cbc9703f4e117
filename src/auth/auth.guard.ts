import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { RateLimiter } from '../http/rate-limit';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { unauthorized } from '../fhir/operation-outcome';
import { IS_PUBLIC } from './public.decorator';
import { InvalidTokenError, TokenService } from './token.service';
import { ClientRepository } from './client.repository';

/** How long a process may keep honouring a revoked client's tokens, or tokens from before a rotation. */
const REVOCATION_CACHE_MS = 5000;

/**
 * Every route needs a valid bearer token unless marked @Public(). The verified caller is put on
 * the request (`req.auth`) for the scope checks, the compartment filter and the audit trail.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  /** A client's live token generation (undefined: revoked or gone), remembered briefly so that revocation costs no query per request. */
  private readonly active = new Map<string, { generation: number | undefined; until: number }>();

  private readonly limiter: RateLimiter;

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
    private readonly clients: ClientRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.limiter = new RateLimiter(config.clientRateLimitPerMinute);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    const req = context.switchToHttp().getRequest<Request>();
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw unauthorized('Authentication required: send a bearer token from POST /auth/token');
    try {
      req.auth = await this.tokens.verify(match[1]);
    } catch (e) {
      if (e instanceof InvalidTokenError) throw unauthorized(`Invalid bearer token: ${e.message}`);
      throw e;
    }
    // Checked on every request, after the verified-token cache: a cached token is refused as soon as its client is.
    const generation = await this.liveGeneration(req.auth.clientId);
    if (generation === undefined) throw unauthorized('Invalid bearer token: the client has been revoked');
    if ((req.auth.generation ?? 0) < generation) throw unauthorized("Invalid bearer token: it was issued before the client's secret was rotated");
    this.limiter.take(`client:${req.auth.clientId}`);
    return true;
  }

  private async liveGeneration(clientId: string): Promise<number | undefined> {
    if (clientId.startsWith('oidc:')) return 0; // the external issuer answers for its own users
    const now = Date.now();
    const cached = this.active.get(clientId);
    if (cached && cached.until > now) return cached.generation;
    const generation = await this.clients.liveGeneration(clientId);
    if (this.active.size > 10000) this.active.clear();
    this.active.set(clientId, { generation, until: now + REVOCATION_CACHE_MS });
    return generation;
  }
}
