import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { ConnectionRepository } from './connection.repository';
import { RemoteClients } from './remote-clients';
import { SyncRunRepository } from './sync-runs.repository';
import { PushAdminService } from './push/push-admin.service';
import { PushController } from './push/push.controller';
import { PushRepository } from './push/push.repository';
import { PushSender } from './push/push-sender.service';
import { PushTrigger } from './push/push-trigger.service';
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
  providers: [ConnectionRepository, RemoteClients, SyncRunRepository, ConnectionsService, ConnectionSettingsRepository, PushRepository, PushTrigger, PushSender, PushAdminService],
  controllers: [ConnectionsController, PushController],
  exports: [ConnectionRepository, RemoteClients, SyncRunRepository, PushRepository, PushTrigger, PushSender],
})
export class ExchangeModule {}
