import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir-store.module';
import { ExportDispatcher } from './export-dispatcher.service';
import { ExportRunner } from './export-runner';
import { ExportRepository } from './export.repository';
import { ExportService } from './export.service';

/** Bulk Data export in the API process: kick-off, status, cancel and files (the controller is the FHIR module's). */
@Module({
  imports: [FhirStoreModule],
  providers: [ExportRepository, ExportService],
  exports: [ExportService],
})
export class BulkExportApiModule {}

/** Bulk Data export in the worker process: handing accepted exports to the queue, and running them. */
@Module({
  providers: [ExportRepository, ExportRunner, ExportDispatcher],
  exports: [ExportRunner, ExportRepository],
})
export class BulkExportWorkerModule {}
