import { MikroORM, type PostgreSqlConnection } from '@mikro-orm/postgresql';
import { mikroOrmConfig } from '../../src/database/mikro-orm.config';
import { DatabaseService } from '../../src/database/database.service';
import { positional, PREPARED_PER_CONNECTION, preparedQuery, statementName } from '../../src/database/prepared-query';
import type { AppConfig } from '../../src/config/app-config';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

describe('prepared queries', () => {
  it('numbers ? placeholders as knex does, leaving escaped ones', () => {
    expect(positional('SELECT ? AS a, ?::text[] AS b WHERE x = ?')).toBe('SELECT $1 AS a, $2::text[] AS b WHERE x = $3');
    expect(positional('SELECT \\? AS q, ? AS a')).toBe('SELECT ? AS q, $1 AS a');
    expect(statementName('SELECT 1')).toBe(statementName('SELECT 1'));
    expect(statementName('SELECT 1')).not.toBe(statementName('SELECT 2'));
    expect(statementName('SELECT 1')).toMatch(/^[a-z0-9_]{1,63}$/);
  });

  describe('on PostgreSQL', () => {
    let db: TestDatabase;
    let orm: MikroORM;
    beforeAll(async () => {
      db = await createTestDatabase();
      // One connection, so that every statement lands on the same one.
      orm = await MikroORM.init(mikroOrmConfig({ databaseUrl: db.url }, 1));
    });
    afterAll(async () => {
      await orm?.close(true);
      await db?.drop();
    });
    const knex = () => (orm.em.getConnection() as PostgreSqlConnection).getKnex();

    it('answers as a plain query, with arrays, buffers and nulls as parameters', async () => {
      const text = 'SELECT ?::text AS a, cardinality(?::text[]) AS n, length(?::bytea) AS b, ?::text IS NULL AS z';
      const params = ['x', ['p', 'q', 'r'], Buffer.from([1, 2, 3, 4]), null];
      const plain = (await knex().raw(text, params)).rows;
      expect(await preparedQuery(knex(), text, params)).toEqual(plain);
      expect(await preparedQuery(knex(), text, params)).toEqual(plain);
    });

    it(`keeps at most ${PREPARED_PER_CONNECTION} statements prepared per connection, and prepares an evicted one again`, async () => {
      for (let i = 0; i < PREPARED_PER_CONNECTION + 20; i++) {
        const [row] = await preparedQuery<{ n: number }>(knex(), `SELECT ${i}::int + ?::int AS n`, [1]);
        expect(row.n).toBe(i + 1);
      }
      const [count] = await preparedQuery<{ n: number }>(knex(), 'SELECT count(*)::int AS n FROM pg_prepared_statements', []);
      expect(count.n).toBeLessThanOrEqual(PREPARED_PER_CONNECTION);
      const [again] = await preparedQuery<{ n: number }>(knex(), 'SELECT 0::int + ?::int AS n', [5]);
      expect(again.n).toBe(5);
    });

    it('runs a transaction on one connection: its statements prepared, its actor set, all or nothing', async () => {
      const db = new DatabaseService(orm);
      await db.query('CREATE TABLE tx_probe (n int PRIMARY KEY)');
      const text = 'INSERT INTO tx_probe (n) VALUES (?::int) RETURNING current_setting(?) AS actor';
      const [row] = await db.transaction({ actor: "client:o'brien" }, async (tx) => {
        await tx.query(text, [1, 'app.actor']);
        return tx.query<{ actor: string }>(text, [2, 'app.actor']);
      });
      expect(row.actor).toBe("client:o'brien");
      const [prepared] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE ?', ['INSERT INTO tx_probe%']);
      expect(prepared.n).toBe(1);
      // A failure part way: nothing of the transaction stays, the error names the statement, not its values.
      const failed = await db
        .transaction({ actor: 'test' }, async (tx) => {
          await tx.query(text, [3, 'app.actor']);
          await tx.query(text, [1, 'app.actor']);
        })
        .catch((e: Error) => e);
      expect((failed as Error).message).toMatch(/^INSERT INTO tx_probe \(n\) VALUES \(\$1::int\).*duplicate key/s);
      expect((await db.query<{ n: number }>('SELECT n FROM tx_probe ORDER BY n')).map((r) => r.n)).toEqual([1, 2]);
      // The connection went back to the pool usable, outside any transaction.
      const [state] = await db.query<{ xact: boolean }>("SELECT now() = statement_timestamp() AS xact");
      expect(state.xact).toBe(true);
    });

    it('deallocates evicted statements between transactions, never inside one (an aborted one refuses DEALLOCATE)', async () => {
      const db = new DatabaseService(orm);
      // Fill the connection's set, so that every new statement evicts one.
      for (let i = 0; i < PREPARED_PER_CONNECTION; i++) await preparedQuery(knex(), `SELECT ${i}::int + ?::int AS fill`, [i]);
      const [n] = await db.transaction({ actor: 'test' }, async (tx) => {
        await tx.query('SAVEPOINT entry');
        await expect(tx.query('SELECT 1 / ?::int AS n', [0])).rejects.toThrow(/division by zero/);
        // The entry's failure is rolled back; with DEALLOCATE inline this failed with 25P02 instead.
        await tx.query('ROLLBACK TO SAVEPOINT entry');
        return tx.query<{ n: number }>('SELECT 41 + ?::int AS n', [1]);
      });
      expect(n.n).toBe(42);
      await db.transaction({ actor: 'test' }, (tx) => tx.query('SELECT ?::int AS again', [1]));
      const [count] = await preparedQuery<{ n: number }>(knex(), 'SELECT count(*)::int AS n FROM pg_prepared_statements', []);
      expect(count.n).toBeLessThanOrEqual(PREPARED_PER_CONNECTION);
      // An evicted statement is prepared again when it comes back.
      const [fill] = await preparedQuery<{ fill: number }>(knex(), 'SELECT 0::int + ?::int AS fill', [7]);
      expect(fill.fill).toBe(7);
    });

    it('refuses undefined values and statements sent after the transaction ended', async () => {
      const db = new DatabaseService(orm);
      await expect(db.query('SELECT ?::text AS v', [undefined])).rejects.toThrow(/Undefined binding/);
      await expect(db.transaction({ actor: 'test' }, (tx) => tx.query('SELECT cardinality(?::text[]) AS n', [['a', undefined]]))).rejects.toThrow(/Undefined binding/);
      let late: ((sql: string) => Promise<unknown>) | undefined;
      await db.transaction({ actor: 'test' }, async (tx) => {
        late = (sql) => tx.query(sql);
      });
      await expect(late!('SELECT 1')).rejects.toThrow(/Transaction already ended/);
    });

    describe('bounded reads', () => {
      const setting = async (q: (sql: string, p?: unknown[]) => Promise<Array<Record<string, string>>>) =>
        (await q("SELECT current_setting('statement_timeout') AS t, current_setting('transaction_read_only') AS ro"))[0];

      it.each([
        ['on a direct connection: a pool of their own, settings for the connection', true],
        ['through a pooler: a read-only transaction with SET LOCAL', false],
      ])('%s: read-only, limited, and never leaving the limit on the shared pool', async (_, direct) => {
        const config = { databaseUrl: db.url, databaseDirectUrl: direct ? db.url : `${db.url}?pooler=1` } as AppConfig;
        const service = new DatabaseService(orm, config);
        try {
          await service.query('CREATE TABLE IF NOT EXISTS bounded_probe (n int)');
          expect(await service.boundedRead(150, (tx) => setting(tx.query))).toEqual({ t: '150ms', ro: 'on' });
          await expect(service.boundedRead(150, (tx) => tx.query('INSERT INTO bounded_probe VALUES (?::int)', [1]))).rejects.toMatchObject({ code: '25006' });
          const started = Date.now();
          await expect(service.boundedRead(150, (tx) => tx.query('SELECT pg_sleep(?::float8)', [5]))).rejects.toMatchObject({ code: '57014' });
          expect(Date.now() - started).toBeLessThan(3000);
          // The connection that timed out answers the next read; the shared pool has no limit and writes.
          expect(await service.boundedRead(150, (tx) => tx.query<{ n: number }>('SELECT 1 + ?::int AS n', [1]))).toEqual([{ n: 2 }]);
          expect(await setting(service.query.bind(service))).toEqual({ t: '0', ro: 'off' });
          await service.transaction({ actor: 'test' }, (tx) => tx.query('INSERT INTO bounded_probe VALUES (?::int)', [2]));
          expect(await service.boundedRead(0, (tx) => setting(tx.query))).toEqual({ t: '0', ro: 'on' });
          // A statement sent after the read ended never reaches the connection, lent to someone else by then.
          let late: ((sql: string) => Promise<unknown>) | undefined;
          await service.boundedRead(150, async (tx) => {
            late = (sql) => tx.query(sql);
          });
          await expect(late!('SELECT 1')).rejects.toThrow(/already ended/);
        } finally {
          await service.onApplicationShutdown();
        }
      });

      it("keeps the options of DATABASE_URL on the read pool's connections, with its own settings", async () => {
        const url = `${db.url}?options=${encodeURIComponent('-c search_path=public,pg_catalog -c statement_timeout=0 -c jit=on')}`;
        const service = new DatabaseService(orm, { databaseUrl: url, databaseDirectUrl: url } as AppConfig);
        try {
          const [row] = await service.boundedRead(150, (tx) =>
            tx.query<Record<string, string>>(
              "SELECT current_setting('search_path') AS p, current_setting('statement_timeout') AS t, current_setting('transaction_read_only') AS ro, current_setting('jit') AS jit",
            ),
          );
          expect(row).toEqual({ p: 'public,pg_catalog', t: '150ms', ro: 'on', jit: 'on' });
        } finally {
          await service.onApplicationShutdown();
        }
      });

      it('runs searches without parallel workers or JIT (their start-up costs more than a search)', async () => {
        const service = new DatabaseService(orm, { databaseUrl: db.url, databaseDirectUrl: db.url } as AppConfig);
        const sql = "SELECT current_setting('jit') AS jit, current_setting('max_parallel_workers_per_gather') AS workers";
        try {
          expect((await service.boundedRead(150, (tx) => tx.query<Record<string, string>>(sql)))[0]).toEqual({ jit: 'off', workers: '0' });
        } finally {
          await service.onApplicationShutdown();
        }
      });
    });

    it('keeps working after a statement fails', async () => {
      await expect(preparedQuery(knex(), 'SELECT 1 / ?::int AS n', [0])).rejects.toThrow(/division by zero/);
      const [row] = await preparedQuery<{ n: number }>(knex(), 'SELECT 1 / ?::int AS n', [1]);
      expect(row.n).toBe(1);
    });
  });
});
