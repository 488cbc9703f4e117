import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { REDIS, bullPrefix } from '../queue/redis.provider';
import { ClientRepository, type ClientRecord } from './client.repository';
import { LoginThrottle } from './login-throttle';
import { SharedLoginThrottle } from './shared-login-throttle';

export type LoginResult = { client: ClientRecord } | { refused: 'credentials' } | { refused: 'locked'; retryAfter: number };

/**
 * Signing a client in with its id and secret (the token endpoint, the queue dashboard's Basic):
 * throttled per client id (LOGIN_MAX_FAILURES within LOGIN_LOCKOUT_SECONDS, then locked out for
 * that long), counted in Redis across all API processes, and in this process too, which decides
 * alone while Redis is unreachable. A locked-out id is refused before its secret is checked.
 */
@Injectable()
export class ClientLogin {
  private readonly local: LoginThrottle;
  private readonly shared: SharedLoginThrottle;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(REDIS) redis: Redis,
    private readonly clients: ClientRepository,
  ) {
    const windowMs = config.loginLockoutSeconds * 1000;
    this.local = new LoginThrottle(config.loginMaxFailures, windowMs);
    this.shared = new SharedLoginThrottle(redis, bullPrefix(config.queuePrefix), config.loginMaxFailures, windowMs);
  }

  async login(clientId: string, secret: string): Promise<LoginResult> {
    const retryAfter = Math.max(this.local.retryAfter(clientId), (await this.shared.retryAfter(clientId)) ?? 0);
    if (retryAfter > 0) return { refused: 'locked', retryAfter };
    const client = await this.clients.authenticate(clientId, secret);
    if (!client) {
      this.local.failed(clientId);
      await this.shared.failed(clientId);
      return { refused: 'credentials' };
    }
    this.local.succeeded(clientId);
    await this.shared.succeeded(clientId);
    return { client };
  }
}
