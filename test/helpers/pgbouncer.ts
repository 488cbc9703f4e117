/** The PgBouncer launcher the benchmarks use, for tests. */
export { OwnPgBouncer } from '../../scripts/lib/pgbouncer';
