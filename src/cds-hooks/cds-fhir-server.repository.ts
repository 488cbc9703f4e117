import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../database/database.service';

/**
 * The EHRs this server pulls from (exchange connections) as CDS clients see them: a connection
 * by its base URL, and the local copies of that EHR's resources by the EHR's own ids.
 */
@Injectable()
export class CdsFhirServerRepository {
  constructor(private readonly db: DatabaseService) {}

  /** The connection whose base URL is `baseUrl` (stored without a trailing slash). */
  async connectionAt(baseUrl: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ id: string }>('SELECT id FROM exchange_connections WHERE base_url = ? ORDER BY id LIMIT 1', [baseUrl]);
    return row?.id;
  }

  /** The local id of the connection's `type/remoteId`, if it was pulled. */
  async localId(connectionId: string, type: string, remoteId: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ local_id: string }>(
      'SELECT local_id FROM exchange_remote_resources WHERE connection_id = ? AND resource_type = ? AND remote_id = ?',
      [connectionId, type, remoteId],
    );
    return row?.local_id;
  }
}
