import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { ConnectionRepository } from './connection.repository';
import { RemoteClients } from './remote-clients';
import { SyncRunRepository } from './sync-runs.repository';
import { ConnectionsController } from './connections/connections.controller';
import { ConnectionsService } from './connections/connections.service';
import { ConnectionSettingsRepository } from './connections/connection-settings.repository';

/**
 * Exchange with external FHIR servers: connections (administrators' API, Endpoint resources),
 * pull (sync runs) and push (approved recommendations and AI results). Imported by the API and the
 * worker; the worker runs the pulls and pushes.
 */
@Module({
  imports: [FhirStoreModule],
  providers: [ConnectionRepository, RemoteClients, SyncRunRepository, ConnectionsService, ConnectionSettingsRepository],
  controllers: [ConnectionsController],
  exports: [ConnectionRepository, RemoteClients, SyncRunRepository],
})
export class ExchangeModule {}
