import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { ConnectionRepository } from './connection.repository';
import { RemoteClients } from './remote-clients';
import { SyncRunRepository } from './sync-runs.repository';

/**
 * Exchange with external FHIR servers: connections (administrators' API, Endpoint resources),
 * pull (sync runs) and push (approved recommendations and AI results). Imported by the API and the
 * worker; the worker runs the pulls and pushes.
 */
@Module({
  imports: [FhirStoreModule],
  providers: [ConnectionRepository, RemoteClients, SyncRunRepository],
  exports: [ConnectionRepository, RemoteClients, SyncRunRepository],
})
export class ExchangeModule {}
