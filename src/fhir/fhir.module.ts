import { Module } from '@nestjs/common';
import { OutboxRepository } from '../outbox/outbox.repository';
import { ProjectionWriter } from './projection/projection.writer';
import { ResourceReadService } from './read/resource-read.service';
import { CapabilityStatementService } from './rest/capability-statement.service';
import { FhirController } from './rest/fhir.controller';
import { EverythingService } from './read/everything.service';
import { ResourceStore } from './store/resource-store.repository';
import { ResourceWriteService } from './write/resource-write.service';
import { PatchService } from './write/patch.service';
import { BundleService } from './bundle/bundle.service';
import { ConditionalMatcher } from './search/conditional-matcher';
import { TokenIndex } from './search/token-index';
import { FhirDefinitionsLoader } from './definitions/definitions.loader';
import { AccessPolicy } from '../auth/access/access-policy';

/** The FHIR store and its one write path; the REST controller is added by the API only. */
@Module({
  providers: [FhirDefinitionsLoader, AccessPolicy, ResourceStore, ProjectionWriter, OutboxRepository, TokenIndex, ConditionalMatcher, ResourceWriteService, PatchService, BundleService, ResourceReadService],
  exports: [AccessPolicy, ResourceStore, ResourceWriteService, PatchService, BundleService, ResourceReadService, OutboxRepository],
})
export class FhirStoreModule {}

@Module({
  imports: [FhirStoreModule],
  controllers: [FhirController],
  providers: [CapabilityStatementService, EverythingService],
})
export class FhirApiModule {}
