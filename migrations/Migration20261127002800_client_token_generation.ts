import { Migration } from '@mikro-orm/migrations';

/**
 * A client's token generation: every token carries the generation of its client when issued
 * (claim `gen`); rotating the secret moves the client to the next generation, so that the tokens
 * issued with the old secret stop working as a revoked client's do (AuthGuard, within 5 s).
 * Tokens issued before this migration carry no claim and count as generation 0.
 */
export class Migration20261127002800_client_token_generation extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE auth_clients ADD COLUMN token_generation integer NOT NULL DEFAULT 0;');
  }

  override async down(): Promise<void> {
    this.addSql('ALTER TABLE auth_clients DROP COLUMN token_generation;');
  }
}
