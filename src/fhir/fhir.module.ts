import { Module } from '@nestjs/common';
import { OutboxRepository } from '../outbox/outbox.repository';
import { ProjectionWriter } from './projection/projection.writer';
import { ResourceReadService } from './read/resource-read.service';
import { CapabilityStatementService } from './rest/capability-statement.service';
import { FhirController } from './rest/fhir.controller';
import { ResourceStore } from './store/resource-store.repository';
import { ResourceWriteService } from './write/resource-write.service';

/** The FHIR store and its one write path; the REST controller is added by the API only. */
@Module({
  providers: [ResourceStore, ProjectionWriter, OutboxRepository, ResourceWriteService, ResourceReadService],
  exports: [ResourceStore, ResourceWriteService, ResourceReadService, OutboxRepository],
})
export class FhirStoreModule {}

@Module({
  imports: [FhirStoreModule],
  controllers: [FhirController],
  providers: [CapabilityStatementService],
})
export class FhirApiModule {}
