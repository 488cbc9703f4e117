import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { Logger } from 'pino';
import { AuthModule } from './auth/auth.module';
import type { AppConfig } from './config/app-config';
import { CoreModule } from './core/core.module';
import { FhirApiModule } from './fhir/fhir.module';
import { HealthController } from './health/health.controller';
import { OperationOutcomeFilter } from './http/operation-outcome.filter';
import { RedisShutdown, redisProvider } from './queue/redis.provider';
import { AuditEventRecorder } from './audit/audit-event.recorder';
import { FhirStoreModule } from './fhir/fhir-store.module';

/** The HTTP API: FHIR REST, authentication, health. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(config, logger), AuthModule, FhirApiModule, FhirStoreModule],
      controllers: [HealthController],
      providers: [redisProvider, RedisShutdown, AuditEventRecorder, { provide: APP_FILTER, useClass: OperationOutcomeFilter }],
    };
  }
}
