import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BullModule } from '@nestjs/bullmq';
import type { Logger } from 'pino';
import type { AppConfig } from '../src/config/app-config';
import { CoreModule } from '../src/core/core.module';
import { FhirStoreModule } from '../src/fhir/fhir.module';
import { OutboxRelay } from '../src/outbox/outbox-relay.service';
import { QUEUES } from '../src/queue/queues';
import { REDIS, RedisShutdown, bullPrefix, createRedis } from '../src/queue/redis.provider';
import { HandlerCheck } from './handler-check';
import { KeyRotationService } from '../src/crypto/key-rotation.service';
import { ResourceEventProcessor } from './processors/resource-event.processor';
import { AiTaskProcessor } from './processors/ai-task.processor';
import { AiModule } from '../src/ai/ai.module';
import { MetricsModule } from '../src/metrics/metrics.module';
import { MetricsPublisher } from '../src/metrics/metrics-publisher.service';
import { HospitalModule } from '../src/hospital/hospital.module';

/** The worker process: the outbox relay and the BullMQ processors. No HTTP server. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    // Shared by the processors' workers; BullMQ does not close a connection it was given, so
    // RedisShutdown does (after the workers, which are closed by BullModule's own hook).
    const connection = createRedis(config.redisUrl);
    return {
      module: WorkerModule,
      imports: [
        CoreModule.forRoot(config, logger),
        MetricsModule.forRoot('worker'),
        DiscoveryModule,
        FhirStoreModule,
        HospitalModule,
        AiModule,
        BullModule.forRoot({ connection, prefix: bullPrefix(config.queuePrefix) }),
        ...Object.values(QUEUES).map((name) => BullModule.registerQueue({ name })),
      ],
      providers: [OutboxRelay, HandlerCheck, KeyRotationService, ResourceEventProcessor, AiTaskProcessor, MetricsPublisher, { provide: REDIS, useValue: connection }, RedisShutdown],
    };
  }
}
