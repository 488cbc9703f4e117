import { createHmac, hkdfSync } from 'node:crypto';

/**
 * Keys derived from ENCRYPTION_KEY. The pgcrypto key travels to PostgreSQL only as a bind
 * parameter of the statement that encrypts or decrypts; the blind-index key never leaves the process.
 * Each ciphertext is stored beside the id of the key that made it (`key_id`), so keys can rotate.
 */
export class KeyRing {
  readonly activeKeyId = 1;
  private readonly dataKeys = new Map<number, string>();
  private readonly blindIndexKey: Buffer;

  constructor(secret: string) {
    this.dataKeys.set(this.activeKeyId, derive(secret, 'pgcrypto-data-key-v1').toString('base64'));
    this.blindIndexKey = derive(secret, 'blind-index-key-v1');
  }

  /** The pgcrypto passphrase for a key id. */
  dataKey(keyId: number = this.activeKeyId): string {
    const key = this.dataKeys.get(keyId);
    if (!key) throw new Error(`Encryption key ${keyId} is not configured`);
    return key;
  }

  /** Keyed hash for exact-match lookup of an encrypted value (e.g. national_id) without decrypting. */
  blindIndex(value: string): Buffer {
    return createHmac('sha256', this.blindIndexKey).update(value, 'utf8').digest();
  }

  /** Keep keys out of console.log / util.inspect / JSON output. */
  toJSON(): string {
    return '[KeyRing]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[KeyRing]';
  }
}

function derive(secret: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from('fhir-ai-server'), Buffer.from(info), 32));
}

/** pgcrypto options: AES-256; the key is random and high-entropy, so S2K iteration adds only cost. */
export const PGP_OPTIONS = 'cipher-algo=aes256, s2k-mode=1';
