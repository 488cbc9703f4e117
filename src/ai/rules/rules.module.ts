import { Global, Module } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { PredictionRepository } from '../model-stats/prediction.repository';
import { RuleRegistry } from './rule-registry.service';

/**
 * The rule versions of the hospital modules' AI behaviours (ai_models, kind `rule`). Global: the
 * hospital modules ask it for the active version of their rule, and the model registry API clears
 * its cache after a lifecycle change. Imported once, by HospitalModule (API and workers).
 */
@Global()
@Module({
  imports: [FhirStoreModule],
  providers: [RuleRegistry, PredictionRepository],
  exports: [RuleRegistry],
})
export class RulesModule {}
