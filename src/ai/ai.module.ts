import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { AiTaskRunner } from './ai-task.runner';
import { InferenceService } from './inference.service';
import { ModelRegistry } from './model-registry.service';
import { PredictionRepository } from './model-stats/prediction.repository';

/** The AI plugins, the model registry and the ONNX runtime; used by the worker process. */
@Module({
  imports: [FhirStoreModule],
  providers: [InferenceService, ModelRegistry, AiTaskRunner, PredictionRepository],
  exports: [ModelRegistry, AiTaskRunner],
})
export class AiModule {}
