import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { ModelCatalog } from './model-catalog.repository';
import { ModelLifecycleService } from './model-lifecycle.service';
import { ModelUploadService } from './model-upload.service';
import { ModelsController } from './models.controller';
import { OnnxInspector } from './onnx-inspector';
import { RuleRegistrationService } from './rule-registration.service';

/** The model registry API (/api/models), served by the API process. */
@Module({
  imports: [FhirStoreModule],
  controllers: [ModelsController],
  providers: [ModelCatalog, ModelUploadService, ModelLifecycleService, OnnxInspector, RuleRegistrationService],
})
export class ModelRegistryApiModule {}
