import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../database/database.service';
import type { Role } from './auth.types';
import { hashSecret, verifySecret } from './secret-hash';

export interface ClientRecord {
  clientId: string;
  /** The generation its tokens are issued in (bumped by each rotation). */
  tokenGeneration?: number;
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
         ON CONFLICT (client_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, role = 'admin', scopes = EXCLUDED.scopes, revoked_at = NULL,
           token_generation = auth_clients.token_generation + 1`, // a new secret from the environment is a rotation
        [clientId, await hashSecret(secret), scopes.join(' ')],
      );
    });
  }

  async create(actor: string, c: ClientRecord, secret: string): Promise<void> {
    await this.db.transaction({ actor }, async (tx) => {
      await tx.query(
        'INSERT INTO auth_clients (client_id, secret_hash, role, scopes, patient_id, practitioner_id) VALUES (?, ?, ?, ?, ?, ?)',
        [c.clientId, await hashSecret(secret), c.role, c.scopes.join(' '), c.patientId ?? null, c.practitionerId ?? null],
      );
    });
  }

  async list(): Promise<Array<ClientRecord & { createdAt: Date; revokedAt: Date | null }>> {
    const rows = await this.db.query<ClientRow & { created_at: Date; revoked_at: Date | null }>(
      'SELECT client_id, role, scopes, patient_id, practitioner_id, created_at, revoked_at FROM auth_clients ORDER BY created_at',
    );
    return rows.map((r) => ({ ...toRecord(r), createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  /** Gives the client a new secret and a new token generation (earlier tokens stop working); false when there is no such live client. */
  async rotate(actor: string, clientId: string, secret: string): Promise<boolean> {
    const hash = await hashSecret(secret);
    return this.db.transaction({ actor }, async (tx) => {
      const rows = await tx.query(
        'UPDATE auth_clients SET secret_hash = ?, token_generation = token_generation + 1 WHERE client_id = ? AND revoked_at IS NULL RETURNING 1',
        [hash, clientId],
      );
      return rows.length > 0;
    });
  }

  /** Revokes the client: it can no longer get tokens. False when there is no such live client. */
  async revoke(actor: string, clientId: string): Promise<boolean> {
    return this.db.transaction({ actor }, async (tx) => {
      const rows = await tx.query('UPDATE auth_clients SET revoked_at = now() WHERE client_id = ? AND revoked_at IS NULL RETURNING 1', [clientId]);
      return rows.length > 0;
    });
  }

  /**
   * The token generation of a live client, or undefined when it does not exist or is revoked:
   * tokens of revoked clients, and tokens of an earlier generation, stop working.
   */
  async liveGeneration(clientId: string): Promise<number | undefined> {
    const rows = await this.db.query<{ token_generation: number }>('SELECT token_generation FROM auth_clients WHERE client_id = ? AND revoked_at IS NULL', [clientId]);
    return rows[0]?.token_generation;
  }

  /**
   * The client if the secret is right and it is not revoked. An unknown id is checked against a
   * dummy hash, so that it costs the same scrypt time as a known one (timing tells no ids).
   */
  async authenticate(clientId: string, secret: string): Promise<ClientRecord | undefined> {
    const [row] = await this.db.query<ClientRow & { secret_hash: string }>(
      'SELECT client_id, secret_hash, role, scopes, patient_id, practitioner_id, token_generation FROM auth_clients WHERE client_id = ? AND revoked_at IS NULL',
      [clientId],
    );
    const right = await verifySecret(secret, row?.secret_hash ?? (await dummyHash()));
    return row && right ? toRecord(row) : undefined;
  }
}

let dummy: Promise<string> | undefined;

/** A hash of a random secret (made once per process), for checking unknown client ids against. */
function dummyHash(): Promise<string> {
  dummy ??= hashSecret(randomBytes(32).toString('base64url'));
  return dummy;
}

interface ClientRow {
  client_id: string;
  role: Role;
  scopes: string;
  patient_id: string | null;
  practitioner_id: string | null;
  token_generation?: number;
}

function toRecord(row: ClientRow): ClientRecord {
  return {
    clientId: row.client_id,
    role: row.role,
    scopes: row.scopes.split(' ').filter(Boolean),
    patientId: row.patient_id ?? undefined,
    practitionerId: row.practitioner_id ?? undefined,
    tokenGeneration: row.token_generation,
  };
}
