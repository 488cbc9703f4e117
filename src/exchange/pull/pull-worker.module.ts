import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { ExchangeModule } from '../exchange.module';
import { PullRepository } from './pull.repository';
import { SyncDispatcher } from './sync-dispatcher.service';
import { SyncScheduler } from './sync-scheduler.service';
import { SyncService } from './sync.service';

/** The pull in the worker process: scheduling runs, handing them to the exchange-sync queue, running them. */
@Module({
  imports: [FhirStoreModule, ExchangeModule],
  providers: [PullRepository, SyncService, SyncDispatcher, SyncScheduler],
  exports: [SyncService, SyncDispatcher, SyncScheduler],
})
export class ExchangePullWorkerModule {}
