import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { Logger } from 'pino';
import { AuthModule } from './auth/auth.module';
import type { AppConfig } from './config/app-config';
import { CoreModule } from './core/core.module';
import { FhirApiModule } from './fhir/fhir.module';
import { HealthController } from './health/health.controller';
import { OperationOutcomeFilter } from './http/operation-outcome.filter';
import { RedisModule } from './queue/redis.module';
import { AuditEventRecorder } from './audit/audit-event.recorder';
import { FhirStoreModule } from './fhir/fhir-store.module';
import { ExchangeModule } from './exchange/exchange.module';
import { ModelStatsModule } from './ai/model-stats/model-stats.module';
import { ModelRegistryApiModule } from './ai/registry/model-registry-api.module';
import { MetricsModule } from './metrics/metrics.module';
import { MetricsController } from './metrics/metrics.controller';
import { MetricsExposition } from './metrics/metrics-exposition.service';
import { MetricsPublisher } from './metrics/metrics-publisher.service';
import { ApiQueues } from './queue/api-queues';
import { HospitalModule } from './hospital/hospital.module';
import { SubscriptionsModule } from './subscriptions/subscriptions.module';
import { SubscriptionSockets } from './subscriptions/subscription-sockets';
import { RecommendationsModule } from './recommendations/recommendations.module';
import { CdsHooksModule } from './cds-hooks/cds-hooks.module';

/** The HTTP API: FHIR REST, authentication, health, metrics. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(config, logger), RedisModule, MetricsModule.forRoot('api'), AuthModule, FhirApiModule, FhirStoreModule, HospitalModule, SubscriptionsModule, ModelStatsModule, ModelRegistryApiModule, RecommendationsModule, CdsHooksModule, ExchangeModule],
      controllers: [HealthController, MetricsController],
      providers: [ApiQueues, SubscriptionSockets, MetricsPublisher, MetricsExposition, AuditEventRecorder, { provide: APP_FILTER, useClass: OperationOutcomeFilter }],
    };
  }
}
