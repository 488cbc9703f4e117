import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { MonitoringController } from './monitoring.controller';
import { ReadingsImportService } from './readings-import.service';

/** Monitoring and ICU: NDJSON streams of readings (scoring is the AI's vital-sign anomaly plugin). */
@Module({
  imports: [FhirStoreModule],
  controllers: [MonitoringController],
  providers: [ReadingsImportService],
})
export class MonitoringModule {}
