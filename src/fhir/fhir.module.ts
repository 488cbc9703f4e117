import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { EhrChainService } from './ehr/ehr-chain.service';
import { FhirStoreModule } from './fhir-store.module';
import { EverythingService } from './read/everything.service';
import { CapabilityStatementService } from './rest/capability-statement.service';
import { FhirController } from './rest/fhir.controller';
import { BulkExportApiModule } from './bulk/bulk-export.module';
import { BulkExportController } from './bulk/export.controller';

export { FhirStoreModule };

/** The FHIR REST API (the API process only). */
@Module({
  imports: [FhirStoreModule, AuthModule, BulkExportApiModule],
  // BulkExportController first: its literal $export routes must win over FhirController's /:type/:id.
  controllers: [BulkExportController, FhirController],
  providers: [CapabilityStatementService, EverythingService, EhrChainService],
})
export class FhirApiModule {}
