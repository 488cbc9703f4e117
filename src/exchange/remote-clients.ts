import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { ConnectionRepository, type ConnectionRow } from './connection.repository';
import { RemoteFhirClient, type ConnectionAuth } from './remote-fhir.client';

/** Makes the FHIR client for a stored connection (its secret decrypted in memory only). */
@Injectable()
export class RemoteClients {
  constructor(
    private readonly connections: ConnectionRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The connection and a client for it; undefined when the connection does not exist. */
  async forConnection(id: string): Promise<{ connection: ConnectionRow; client: RemoteFhirClient } | undefined> {
    const connection = await this.connections.get(id);
    const auth = connection && (await this.connections.authOf(id));
    if (!connection || !auth) return undefined;
    return { connection, client: this.client(connection.baseUrl, auth) };
  }

  client(baseUrl: string, auth: ConnectionAuth): RemoteFhirClient {
    return new RemoteFhirClient(baseUrl, auth, { timeoutMs: this.config.exchangeTimeoutMs, allowPrivate: this.config.connectionAllowPrivateEndpoints });
  }
}
