import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { RecommendationTaskRule } from './recommendation-task.rule';

/**
 * The write rule that keeps recommendation Tasks to the approval rules, in every process that
 * writes (the API and the workers: REST, bundles, the AI, pulls from other servers).
 */
@Module({
  imports: [FhirStoreModule],
  providers: [RecommendationTaskRule],
  exports: [RecommendationTaskRule],
})
export class RecommendationWritesModule {}
