import { Controller, Get, Inject, Req } from '@nestjs/common';
import type { Request } from 'express';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { Public } from './public.decorator';
import { SigningKeyService } from './signing-key.service';

/**
 * SMART App Launch discovery (`.well-known/smart-configuration`, at the FHIR base and at the root)
 * and the JWKS that verifies this server's tokens.
 */
@Controller()
export class SmartConfigurationController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly keys: SigningKeyService,
  ) {}

  @Public()
  @Get(['.well-known/smart-configuration', 'fhir/.well-known/smart-configuration'])
  smartConfiguration(@Req() req: Request): Record<string, unknown> {
    const base = this.config.publicBaseUrl ?? `${req.protocol}://${req.get('host')}`;
    return {
      issuer: base,
      jwks_uri: `${base}/.well-known/jwks.json`,
      token_endpoint: `${base}/auth/token`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: ['system/*.cruds', 'user/*.cruds', 'patient/*.rs', 'system/*.rs', 'admin', 'models'],
      capabilities: ['client-confidential-symmetric', 'permission-v1', 'permission-v2', 'permission-patient', 'permission-user'],
      code_challenge_methods_supported: [],
    };
  }

  @Public()
  @Get('.well-known/jwks.json')
  jwks(): Record<string, unknown> {
    return this.keys.jwks();
  }
}
