import { Global, Module, type OnModuleInit } from '@nestjs/common';
import { WriteRules } from '../../fhir/write/write-rules';
import { ModelDeviceDirectory } from '../model-device-directory';
import { ModelDeviceGuard } from '../model-device.guard';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { InferenceService } from '../inference.service';
import { ModelRegistry } from '../model-registry.service';
import { PredictionRepository } from '../model-stats/prediction.repository';
import { RuleRegistry } from '../rules/rule-registry.service';
import { PluginCatalogue } from './catalogue';
import { PluginCore } from './plugin-core';

/**
 * What every AI plugin needs, in the API and the workers alike: the catalogue of plugins, the
 * shared run core, the versions in ai_models (ModelRegistry for models, RuleRegistry for rules,
 * which seeds the built-in rule versions at start), the ONNX runtime (loaded on first use) and the
 * prediction records. Global: AiModule (workers) adds the model plugins, HospitalModule the rule
 * plugins, and the model registry API clears the rule versions' cache after a lifecycle change.
 * Imported once, by HospitalModule (API and workers). The registry's Devices are guarded on the
 * write path here (ModelDeviceGuard), so in every process that writes.
 */
@Global()
@Module({
  imports: [FhirStoreModule],
  providers: [PluginCatalogue, PluginCore, ModelRegistry, RuleRegistry, InferenceService, PredictionRepository, ModelDeviceDirectory, ModelDeviceGuard],
  exports: [PluginCatalogue, PluginCore, ModelRegistry, RuleRegistry, InferenceService, PredictionRepository, ModelDeviceDirectory],
})
export class AiPluginsModule implements OnModuleInit {
  constructor(
    private readonly rules: WriteRules,
    private readonly guard: ModelDeviceGuard,
  ) {}

  onModuleInit(): void {
    this.rules.add(this.guard);
  }
}
