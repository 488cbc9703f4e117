import { randomUUID } from 'node:crypto';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { exportJWK, generateKeyPair, importJWK, type JWK, type KeyLike } from 'jose';
import { KeyRing, PGP_OPTIONS } from '../crypto/key-ring';
import { DatabaseService } from '../database/database.service';

export const TOKEN_ALG = 'ES256';
const KEY_CREATION_LOCK = 0x4b455953; // 'KEYS'

/**
 * The token-signing key pair, shared by every API process through the database (the private half
 * encrypted with pgcrypto), made on first start. Its public half is what a JWKS endpoint serves.
 */
@Injectable()
export class SigningKeyService implements OnModuleInit {
  private kid!: string;
  private privateKey!: KeyLike;
  private publicKeys = new Map<string, KeyLike>();
  private publicJwks: JWK[] = [];

  constructor(
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.load();
  }

  private async load(): Promise<void> {
    let rows = await this.readKeys();
    if (!rows.some((r) => !r.retired_at)) {
      await this.db.transaction({ actor: 'system:bootstrap' }, async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(?)', [KEY_CREATION_LOCK]);
        const [active] = await tx.query('SELECT kid FROM auth_signing_keys WHERE retired_at IS NULL');
        if (active) return;
        const { publicKey, privateKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
        const kid = randomUUID();
        await tx.query(
          `INSERT INTO auth_signing_keys (kid, alg, public_jwk, private_jwk, key_id) VALUES (?, ?, ?::jsonb, pgp_sym_encrypt(?, ?, '${PGP_OPTIONS}'), ?)`,
          [kid, TOKEN_ALG, JSON.stringify(await exportJWK(publicKey)), JSON.stringify(await exportJWK(privateKey)), this.keys.dataKey(), this.keys.activeKeyId],
        );
      });
      rows = await this.readKeys();
    }
    const active = rows.find((r) => !r.retired_at)!;
    this.kid = active.kid;
    this.privateKey = (await importJWK(JSON.parse(active.private_jwk), TOKEN_ALG)) as KeyLike;
    this.publicJwks = rows.map((r) => ({ ...r.public_jwk, kid: r.kid, alg: TOKEN_ALG, use: 'sig' }));
    for (const jwk of this.publicJwks) this.publicKeys.set(jwk.kid as string, (await importJWK(jwk, TOKEN_ALG)) as KeyLike);
  }

  private readKeys() {
    return this.db.query<{ kid: string; public_jwk: JWK; private_jwk: string; retired_at: Date | null }>(
      `SELECT kid, public_jwk, fhir_decrypt(private_jwk, key_id, ?::text[]) AS private_jwk, retired_at FROM auth_signing_keys ORDER BY created_at DESC`,
      [this.keys.decryptionKeys()],
    );
  }

  signingKey(): { kid: string; key: KeyLike } {
    return { kid: this.kid, key: this.privateKey };
  }

  verificationKey(kid: string | undefined): KeyLike | undefined {
    return kid ? this.publicKeys.get(kid) : undefined;
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwks };
  }
}
