import { hkdfSync } from 'node:crypto';
import type { AppConfig } from '../../config/app-config';

/**
 * The de-identification key (pseudonyms and date shifts), derived with HKDF from the same secret
 * as the blind index (BLIND_INDEX_KEY, or else the oldest configured encryption key) under its
 * own label: never the raw secret nor the pgcrypto key, and stable while data keys rotate, so
 * pseudonyms stay the same across exports and can be joined.
 */
export function deidentificationKey(config: Pick<AppConfig, 'blindIndexKey' | 'encryptionKeys'>): Buffer {
  const oldest = [...config.encryptionKeys].sort((a, b) => a.id - b.id)[0];
  const secret = config.blindIndexKey ?? oldest?.secret;
  if (!secret) throw new Error('No secret configured to derive the de-identification key from');
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from('fhir-ai-server'), Buffer.from('deidentify-key-v1'), 32));
}
