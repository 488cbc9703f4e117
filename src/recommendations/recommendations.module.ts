import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { ClinicianPatients } from './clinician-patients.service';
import { RecommendationAudit } from './recommendation-audit';
import { RecommendationReader } from './recommendation.reader';
import { RecommendationsController } from './recommendations.controller';
import { RecommendationsService } from './recommendations.service';
import { RecommendationWritesModule } from './recommendation-writes.module';

/** Clinicians' approvals of AI recommendations (the API process only). */
@Module({
  imports: [FhirStoreModule, RecommendationWritesModule],
  controllers: [RecommendationsController],
  providers: [ClinicianPatients, RecommendationReader, RecommendationAudit, RecommendationsService],
  exports: [RecommendationsService, RecommendationAudit],
})
export class RecommendationsModule {}
