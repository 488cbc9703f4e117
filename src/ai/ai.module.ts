import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { AiTaskRunner } from './ai-task.runner';
import { InferenceService } from './inference.service';
import { ModelRegistry } from './model-registry.service';

/** The AI plugins, the model registry and the ONNX runtime; used by the worker process. */
@Module({
  imports: [FhirStoreModule],
  providers: [InferenceService, ModelRegistry, AiTaskRunner],
  exports: [ModelRegistry, AiTaskRunner],
})
export class AiModule {}
