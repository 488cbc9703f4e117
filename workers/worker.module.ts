import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BullModule } from '@nestjs/bullmq';
import type { Logger } from 'pino';
import type { AppConfig } from '../src/config/app-config';
import { CoreModule } from '../src/core/core.module';
import { FhirStoreModule } from '../src/fhir/fhir.module';
import { ExchangeModule } from '../src/exchange/exchange.module';
import { OutboxRelay } from '../src/outbox/outbox-relay.service';
import { QUEUES } from '../src/queue/queues';
import { REDIS, RedisShutdown, bullPrefix, createRedis } from '../src/queue/redis.provider';
import { HandlerCheck } from './handler-check';
import { ProcessorStart } from './processor-start';
import { ProcessorStop } from './processor-stop';
import { KeyRotationService } from '../src/crypto/key-rotation.service';
import { ResourceEventProcessor } from './processors/resource-event.processor';
import { AiTaskProcessor } from './processors/ai-task.processor';
import { BulkExportProcessor } from './processors/bulk-export.processor';
import { BulkExportWorkerModule } from '../src/fhir/bulk/bulk-export.module';
import { AiModule } from '../src/ai/ai.module';
import { MetricsModule } from '../src/metrics/metrics.module';
import { MetricsPublisher } from '../src/metrics/metrics-publisher.service';
import { HospitalModule } from '../src/hospital/hospital.module';
import { SubscriptionsModule } from '../src/subscriptions/subscriptions.module';
import { RecommendationWritesModule } from '../src/recommendations/recommendation-writes.module';
import { SubscriptionDelivery } from '../src/subscriptions/subscription-delivery.service';
import { SubscriptionEndSweeper } from '../src/subscriptions/subscription-end-sweeper';
import { SubscriptionDeliveryProcessor } from './processors/subscription-delivery.processor';
import { ExchangePushProcessor } from './processors/exchange-push.processor';
import { PushDispatcher } from '../src/exchange/push/push-dispatcher.service';
import { ExchangeSyncProcessor } from './processors/exchange-sync.processor';
import { ExchangePullWorkerModule } from '../src/exchange/pull/pull-worker.module';

/** The worker process: the outbox relay and the BullMQ processors. No HTTP server. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    // Shared by the processors' workers; BullMQ does not close a connection it was given, so
    // RedisShutdown does (after the workers, which ProcessorStop closes first).
    const connection = createRedis(config.redisUrl);
    return {
      module: WorkerModule,
      imports: [
        CoreModule.forRoot(config, logger),
        MetricsModule.forRoot('worker'),
        DiscoveryModule,
        FhirStoreModule,
        HospitalModule,
        SubscriptionsModule,
        RecommendationWritesModule,
        AiModule,
        BulkExportWorkerModule,
        ExchangeModule,
        ExchangePullWorkerModule,
        BullModule.forRoot({ connection, prefix: bullPrefix(config.queuePrefix), extraOptions: { manualRegistration: true } }),
        ...Object.values(QUEUES).map((name) => BullModule.registerQueue({ name })),
      ],
      providers: [OutboxRelay, HandlerCheck, ProcessorStart, ProcessorStop, KeyRotationService, ResourceEventProcessor, AiTaskProcessor, SubscriptionDelivery, SubscriptionEndSweeper, SubscriptionDeliveryProcessor, BulkExportProcessor, ExchangePushProcessor, PushDispatcher, ExchangeSyncProcessor, MetricsPublisher, { provide: REDIS, useValue: connection }, RedisShutdown],
    };
  }
}
