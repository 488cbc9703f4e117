import { Inject, Injectable, type CanActivate, type ExecutionContext, type OnModuleDestroy } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { RateLimiter } from '../http/rate-limit';
import { SharedRateWindows } from '../http/shared-rate-windows';
import { REDIS, bullPrefix } from '../queue/redis.provider';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { unauthorized } from '../fhir/operation-outcome';
import { IS_PUBLIC } from './public.decorator';
import { InvalidTokenError } from './token.service';
import { TokenCheck } from './token-check.service';

/**
 * Every route needs a valid bearer token unless marked @Public(). The verified caller is put on
 * the request (`req.auth`) for the scope checks, the compartment filter and the audit trail.
 */
@Injectable()
export class AuthGuard implements CanActivate, OnModuleDestroy {
  private readonly limiter: RateLimiter;
  private readonly shared: SharedRateWindows;

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenCheck,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(REDIS) redis: Redis,
  ) {
    this.shared = new SharedRateWindows(redis, bullPrefix(config.queuePrefix), 'client', config.clientRateLimitPerMinute);
    this.limiter = new RateLimiter(config.clientRateLimitPerMinute, this.shared);
  }

  onModuleDestroy(): void {
    this.shared.close();
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    const req = context.switchToHttp().getRequest<Request>();
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw unauthorized('Authentication required: send a bearer token from POST /auth/token');
    try {
      req.auth = await this.tokens.check(match[1]);
    } catch (e) {
      if (e instanceof InvalidTokenError) throw unauthorized(`Invalid bearer token: ${e.message}`);
      throw e;
    }
    this.limiter.take(`client:${req.auth.clientId}`);
    return true;
  }
}
