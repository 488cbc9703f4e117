import { createHmac, hkdfSync } from 'node:crypto';

/** One configured encryption key: its id (stored beside each ciphertext) and its secret. */
export interface KeyConfig {
  id: number;
  secret: string;
}

/**
 * Keys derived from the configured secrets. The pgcrypto keys travel to PostgreSQL only as bind
 * parameters of the statements that encrypt or decrypt; the blind-index key never leaves the
 * process. The first configured key is active (new ciphertexts); the others still decrypt what they
 * made until the background re-encryption has moved everything to the active one.
 */
export class KeyRing {
  readonly activeKeyId: number;
  private readonly dataKeys = new Map<number, string>();
  private readonly blindIndexKey: Buffer;

  /**
   * @param keys the secret (key id 1), or the keys with the active one first.
   * @param blindIndexSecret the blind index's own secret; by default derived from the oldest key,
   *   so that rotating data keys never changes the index.
   */
  constructor(keys: string | KeyConfig[], blindIndexSecret?: string) {
    const list = typeof keys === 'string' ? [{ id: 1, secret: keys }] : keys;
    if (!list.length) throw new Error('At least one encryption key is needed');
    for (const k of list) this.dataKeys.set(k.id, derive(k.secret, 'pgcrypto-data-key-v1').toString('base64'));
    this.activeKeyId = list[0].id;
    const oldest = [...list].sort((a, b) => a.id - b.id)[0];
    this.blindIndexKey = derive(blindIndexSecret ?? oldest.secret, 'blind-index-key-v1');
  }

  /** The pgcrypto passphrase for a key id (the active key by default). */
  dataKey(keyId: number = this.activeKeyId): string {
    const key = this.dataKeys.get(keyId);
    if (!key) throw new Error(`Encryption key ${keyId} is not configured`);
    return key;
  }

  /**
   * Every configured pgcrypto key as one PostgreSQL text[] literal indexed by key id (PostgreSQL
   * arrays start at 1), for `fhir_decrypt(ciphertext, key_id, ?::text[])`; ids that are not
   * configured hold NULL. A literal built once: it is a bind parameter of every read, and
   * node-postgres would otherwise serialise the array again each time.
   */
  decryptionKeys(): string {
    if (this.decryptionLiteral === undefined) {
      const max = Math.max(...this.dataKeys.keys());
      const items = Array.from({ length: max }, (_, i) => this.dataKeys.get(i + 1));
      this.decryptionLiteral = `{${items.map((k) => (k === undefined ? 'NULL' : `"${k.replace(/(["\\])/g, '\\$1')}"`)).join(',')}}`;
    }
    return this.decryptionLiteral;
  }

  private decryptionLiteral?: string;

  keyIds(): number[] {
    return [...this.dataKeys.keys()];
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
