import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../database/database.service';
import type { Role } from './auth.types';
import { hashSecret, verifySecret } from './secret-hash';

export interface ClientRecord {
  clientId: string;
  role: Role;
  scopes: string[];
  patientId?: string;
  practitionerId?: string;
}

/** OAuth2 clients; secrets are kept as scrypt hashes only. */
@Injectable()
export class ClientRepository {
  constructor(private readonly db: DatabaseService) {}

  /** Makes sure the bootstrap administrator from the environment exists with the configured secret. */
  async ensureBootstrapAdmin(clientId: string, secret: string, scopes: string[]): Promise<void> {
    const [existing] = await this.db.query<{ secret_hash: string }>('SELECT secret_hash FROM auth_clients WHERE client_id = ?', [clientId]);
    if (existing && (await verifySecret(secret, existing.secret_hash))) return;
    await this.db.transaction({ actor: 'system:bootstrap' }, async (tx) => {
      await tx.query(
        `INSERT INTO auth_clients (client_id, secret_hash, role, scopes) VALUES (?, ?, 'admin', ?)
         ON CONFLICT (client_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, role = 'admin', scopes = EXCLUDED.scopes, revoked_at = NULL`,
        [clientId, await hashSecret(secret), scopes.join(' ')],
      );
    });
  }

  /** The client if the secret is right and it is not revoked. */
  async authenticate(clientId: string, secret: string): Promise<ClientRecord | undefined> {
    const [row] = await this.db.query<{ client_id: string; secret_hash: string; role: Role; scopes: string; patient_id: string | null; practitioner_id: string | null }>(
      'SELECT client_id, secret_hash, role, scopes, patient_id, practitioner_id FROM auth_clients WHERE client_id = ? AND revoked_at IS NULL',
      [clientId],
    );
    if (!row || !(await verifySecret(secret, row.secret_hash))) return undefined;
    return {
      clientId: row.client_id,
      role: row.role,
      scopes: row.scopes.split(' ').filter(Boolean),
      patientId: row.patient_id ?? undefined,
      practitionerId: row.practitioner_id ?? undefined,
    };
  }
}
