import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { AuthGuard } from './auth.guard';
import { ROLE_SCOPE_CEILING } from './auth.types';
import { ClientLogin } from './client-login.service';
import { ClientRepository } from './client.repository';
import { SigningKeyService } from './signing-key.service';
import { TokenController } from './token.controller';
import { SmartConfigurationController } from './smart-configuration.controller';
import { ClientsController } from './clients.controller';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { TokenService } from './token.service';
import { TokenCheck } from './token-check.service';

@Module({
  imports: [FhirStoreModule],
  controllers: [TokenController, SmartConfigurationController, ClientsController],
  providers: [ClientRepository, ClientLogin, SigningKeyService, TokenService, TokenCheck, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [TokenService, TokenCheck, SigningKeyService, ClientLogin],
})
export class AuthModule implements OnModuleInit {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clients: ClientRepository,
  ) {}

  /** The bootstrap client from the environment is an administrator. */
  async onModuleInit(): Promise<void> {
    await this.clients.ensureBootstrapAdmin(this.config.authClientId, this.config.authClientSecret, ROLE_SCOPE_CEILING.admin);
  }
}
