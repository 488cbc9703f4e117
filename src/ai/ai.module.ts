import { Module, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import { DatabaseService } from '../database/database.service';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { AiTaskRunner } from './ai-task.runner';
import { InferenceService } from './inference.service';
import { ModelRegistry } from './model-registry.service';
import { PLUGIN_TASKS, PluginCatalogue } from './plugins/catalogue';
import { modelPlugins } from './plugins/model-plugins';

/**
 * The AI worker's part: the model plugins (added to the plugin catalogue) and the queued runner.
 * The catalogue, the run core, the registries and the ONNX runtime come from AiPluginsModule (global).
 */
@Module({
  imports: [FhirStoreModule],
  providers: [AiTaskRunner],
  exports: [AiTaskRunner],
})
export class AiModule implements OnModuleInit, OnApplicationBootstrap {
  constructor(
    private readonly catalogue: PluginCatalogue,
    private readonly registry: ModelRegistry,
    private readonly store: ResourceStore,
    private readonly db: DatabaseService,
    private readonly inference: InferenceService,
  ) {}

  onModuleInit(): void {
    this.catalogue.add(...modelPlugins(this.registry, this.store, this.db, this.inference));
  }

  /** A worker runs every kind of plugin's versions: it starts only if each task (known to the code, or in ai_models) has its plugin. */
  async onApplicationBootstrap(): Promise<void> {
    const rows = await this.db.query<{ task: string }>('SELECT DISTINCT task FROM ai_models WHERE task IS NOT NULL');
    this.catalogue.check([...PLUGIN_TASKS, ...rows.map((r) => r.task)], 'worker');
  }
}
