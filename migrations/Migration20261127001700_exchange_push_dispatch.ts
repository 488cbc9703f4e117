import { Migration } from '@mikro-orm/migrations';

/**
 * Push rows are the truth and a worker's dispatcher moves pending ones to the exchange-push queue
 * (as bulk exports and sync runs): enqueued_at says a row has been handed over, and replays counts
 * how often an administrator replayed a dead-letter (each replay is a new job id).
 */
export class Migration20261127001700_exchange_push_dispatch extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE exchange_push
  ADD COLUMN enqueued_at timestamptz,            -- handed to the exchange-push queue by a worker
  ADD COLUMN replays integer NOT NULL DEFAULT 0; -- dead-letter replays (part of the job id)
CREATE INDEX exchange_push_to_enqueue ON exchange_push (id) WHERE status = 'pending' AND enqueued_at IS NULL;
CREATE INDEX exchange_push_connection ON exchange_push (connection_id, id DESC);
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP INDEX IF EXISTS exchange_push_connection; DROP INDEX IF EXISTS exchange_push_to_enqueue; ALTER TABLE exchange_push DROP COLUMN IF EXISTS replays, DROP COLUMN IF EXISTS enqueued_at;');
  }
}
