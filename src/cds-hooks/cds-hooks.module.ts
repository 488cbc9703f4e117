import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { RecommendationsModule } from '../recommendations/recommendations.module';
import { CdsFhirServerRepository } from './cds-fhir-server.repository';
import { CdsHooksController } from './cds-hooks.controller';
import { CdsHooksService } from './cds-hooks.service';

/** CDS Hooks for EHRs over the clinicians' recommendations (the API process only). */
@Module({
  imports: [FhirStoreModule, RecommendationsModule],
  controllers: [CdsHooksController],
  providers: [CdsHooksService, CdsFhirServerRepository],
})
export class CdsHooksModule {}
