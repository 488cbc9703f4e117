import { Migration } from '@mikro-orm/migrations';

/**
 * The `fhir_id` domain's check, same rule, cheaper test. PostgreSQL's regular expressions expand a
 * bounded repeat (`{1,64}`) into that many states: checking one 36-character id took about 12 µs,
 * and every id column of every row written is checked (84 columns: the resource tables, every
 * search-index row, outbox, projections), so a resource write with 30 index rows paid about
 * 0.4 ms of PostgreSQL CPU for it. `+` with a length test says the same (the characters are ASCII)
 * in about 0.7 µs (docs/BENCHMARKS.md, session 17).
 *
 * NOT VALID: every stored value already passed the same rule, and validating would read every
 * table that has an id column. New and changed rows are checked.
 */
export class Migration20261128001000_fhir_id_check_cheaper extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER DOMAIN fhir_id DROP CONSTRAINT fhir_id_check;
ALTER DOMAIN fhir_id ADD CONSTRAINT fhir_id_check CHECK (VALUE ~ '^[A-Za-z0-9.-]+$' AND length(VALUE) <= 64) NOT VALID;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
ALTER DOMAIN fhir_id DROP CONSTRAINT fhir_id_check;
ALTER DOMAIN fhir_id ADD CONSTRAINT fhir_id_check CHECK (VALUE ~ '^[A-Za-z0-9.-]{1,64}$') NOT VALID;
`);
  }
}
