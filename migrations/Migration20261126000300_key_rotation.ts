import { Migration } from '@mikro-orm/migrations';

/**
 * Decryption by key id, so that ciphertexts made by several keys can be read while a rotation
 * re-encrypts them: the keys travel as one bind parameter (an array indexed by key id) and a
 * ciphertext whose key is not configured is an error, never a silent NULL.
 */
export class Migration20261126000300_key_rotation extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE FUNCTION fhir_decrypt(data bytea, key_id smallint, keys text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
BEGIN
  IF data IS NULL THEN RETURN NULL; END IF;
  IF key_id IS NULL OR key_id < 1 OR key_id > coalesce(array_length(keys, 1), 0) OR keys[key_id] IS NULL THEN
    RAISE EXCEPTION 'encryption key % is not configured', key_id USING ERRCODE = '39000';
  END IF;
  RETURN pgp_sym_decrypt(data, keys[key_id]);
END
$fn$;
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP FUNCTION IF EXISTS fhir_decrypt(bytea, smallint, text[]);');
  }
}
