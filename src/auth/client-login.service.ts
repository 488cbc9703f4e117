import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { ClientRepository, type ClientRecord } from './client.repository';
import { LoginThrottle } from './login-throttle';

export type LoginResult = { client: ClientRecord } | { refused: 'credentials' } | { refused: 'locked'; retryAfter: number };

/**
 * Signing a client in with its id and secret (the token endpoint, the queue dashboard's Basic):
 * throttled per client id (LOGIN_MAX_FAILURES within LOGIN_LOCKOUT_SECONDS, then locked out for
 * that long), per API process. A locked-out id is refused before its secret is checked.
 */
@Injectable()
export class ClientLogin {
  private readonly throttle: LoginThrottle;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly clients: ClientRepository,
  ) {
    this.throttle = new LoginThrottle(config.loginMaxFailures, config.loginLockoutSeconds * 1000);
  }

  async login(clientId: string, secret: string): Promise<LoginResult> {
    const retryAfter = this.throttle.retryAfter(clientId);
    if (retryAfter > 0) return { refused: 'locked', retryAfter };
    const client = await this.clients.authenticate(clientId, secret);
    if (!client) {
      this.throttle.failed(clientId);
      return { refused: 'credentials' };
    }
    this.throttle.succeeded(clientId);
    return { client };
  }
}
