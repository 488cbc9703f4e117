import { Migration } from '@mikro-orm/migrations';

/**
 * Remote deletions reach the pull: per connection and type, how far the remote's type history has
 * been read for deletions, and per run how many local copies were deleted because the remote
 * deleted the resource.
 */
export class Migration20261127002400_exchange_deletions extends Migration {
  override async up(): Promise<void> {
    this.addSql(`ALTER TABLE exchange_sync_cursors ADD COLUMN deleted_high_water timestamptz;`);
    this.addSql(`ALTER TABLE exchange_sync_runs ADD COLUMN deleted integer NOT NULL DEFAULT 0;`);
  }

  override async down(): Promise<void> {
    this.addSql(`ALTER TABLE exchange_sync_runs DROP COLUMN deleted;`);
    this.addSql(`ALTER TABLE exchange_sync_cursors DROP COLUMN deleted_high_water;`);
  }
}
