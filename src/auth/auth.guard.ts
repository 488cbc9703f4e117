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

/** How long a process may keep honouring a revoked client's tokens. */
const REVOCATION_CACHE_MS = 5000;

/**
 * Every route needs a valid bearer token unless marked @Public(). The verified caller is put on
 * the request (`req.auth`) for the scope checks, the compartment filter and the audit trail.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  /** Whether a client is still active, remembered briefly so that revocation costs no query per request. */
  private readonly active = new Map<string, { active: boolean; until: number }>();

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
    if (!(await this.isActive(req.auth.clientId))) throw unauthorized('Invalid bearer token: the client has been revoked');
    this.limiter.take(`client:${req.auth.clientId}`);
    return true;
  }

  private async isActive(clientId: string): Promise<boolean> {
    if (clientId.startsWith('oidc:')) return true; // the external issuer answers for its own users
    const now = Date.now();
    const cached = this.active.get(clientId);
    if (cached && cached.until > now) return cached.active;
    const active = await this.clients.isActive(clientId);
    if (this.active.size > 10000) this.active.clear();
    this.active.set(clientId, { active, until: now + REVOCATION_CACHE_MS });
    return active;
  }
}
