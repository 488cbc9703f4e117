import { Module } from '@nestjs/common';
import { OutboxRepository } from '../outbox/outbox.repository';
import { ProjectionWriter } from './projection/projection.writer';
import { ResourceReadService } from './read/resource-read.service';
import { ResourceStore } from './store/resource-store.repository';
import { ResourceWriteService } from './write/resource-write.service';
import { PatchService } from './write/patch.service';
import { BundleService } from './bundle/bundle.service';
import { ValidationPool } from './definitions/validation-pool';
import { SearchIndexWriter } from './search/search-index.writer';
import { SearchService } from './search/search.service';
import { FhirDefinitionsLoader } from './definitions/definitions.loader';
import { AccessPolicy } from '../auth/access/access-policy';
import { EhrChainRepository } from './ehr/ehr-chain.repository';
import { WriteRules } from './write/write-rules';

/** The FHIR store and its one write path; the REST controller is added by the API only. */
@Module({
  providers: [FhirDefinitionsLoader, ValidationPool, AccessPolicy, EhrChainRepository, WriteRules, ResourceStore, ProjectionWriter, OutboxRepository, SearchIndexWriter, SearchService, ResourceWriteService, PatchService, BundleService, ResourceReadService],
  exports: [AccessPolicy, WriteRules, SearchService, SearchIndexWriter, EhrChainRepository, ResourceStore, ResourceWriteService, PatchService, BundleService, ResourceReadService, OutboxRepository],
})
export class FhirStoreModule {}
