/**
 * The SQL expression for a resource row's stored JSON as text: `content_enc` decrypted by
 * `fhir_decrypt` with the key ring's keys (one `?::text[]` parameter, KeyRing.decryptionKeys())
 * when the type is stored encrypted, `content` otherwise. `alias`: the row's table alias, if any.
 */
export function storedJsonSql(alias?: string): string {
  const c = (column: string) => (alias ? `${alias}.${column}` : column);
  return `CASE WHEN ${c('content_enc')} IS NOT NULL THEN fhir_decrypt(${c('content_enc')}, ${c('key_id')}, ?::text[]) ELSE ${c('content')}::text END`;
}
