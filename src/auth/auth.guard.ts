import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { unauthorized } from '../fhir/operation-outcome';
import { IS_PUBLIC } from './public.decorator';
import { InvalidTokenError, TokenService } from './token.service';

/**
 * Every route needs a valid bearer token unless marked @Public(). The verified caller is put on
 * the request (`req.auth`) for the scope checks, the compartment filter and the audit trail.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
  ) {}

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
    return true;
  }
}
