import { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from 'pg';
import { mikroOrmConfig } from '../../src/database/mikro-orm.config';
import { createTestDatabase, rawClient, type TestDatabase } from '../helpers/test-database';

/**
 * Migration 002300: AuditEvents are kept once (in fhir_resource). Going up removes the history
 * rows that copy a current AuditEvent version and nothing else; going down puts the copies back.
 */
describe('migration 002300 (AuditEvents kept once)', () => {
  let db: TestDatabase;
  let pg: Client;
  let orm: MikroORM;
  const BEFORE = 'Migration20261127002200_fhir_store_audit_statements';

  beforeAll(async () => {
    db = await createTestDatabase();
    pg = await rawClient(db.url);
    orm = await MikroORM.init(mikroOrmConfig({ databaseUrl: db.url }, 2));
  });
  afterAll(async () => {
    await orm?.close(true);
    await pg?.end();
    await db?.drop();
  });

  const count = async (table: string, where = "resource_type = 'AuditEvent'") =>
    Number((await pg.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)).rows[0].n);

  it('removes only the history copies of current AuditEvent versions, and restores them going down', async () => {
    await orm.getMigrator().down({ to: BEFORE });
    const event = (id: string) => JSON.stringify({ resourceType: 'AuditEvent', id, meta: { versionId: '1' }, recorded: '2026-01-01T00:00:00Z' });
    await pg.query(`INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, content) VALUES
      ('AuditEvent', 'a1', 1, now(), $1::jsonb), ('AuditEvent', 'a2', 1, now(), $2::jsonb), ('Organization', 'o1', 1, now(), '{"resourceType":"Organization","id":"o1"}')`, [event('a1'), event('a2')]);
    await pg.query(`INSERT INTO fhir_resource_history (resource_type, id, version_id, last_updated, content)
      SELECT resource_type, id, version_id, last_updated, content FROM fhir_resource`);
    // An older AuditEvent version with no current copy (none is ever made today) stays.
    await pg.query(`INSERT INTO fhir_resource_history (resource_type, id, version_id, last_updated, content) VALUES ('AuditEvent', 'old', 1, now(), $1::jsonb)`, [event('old')]);
    expect(await count('fhir_resource_history')).toBe(3);

    await orm.getMigrator().up();
    expect(await count('fhir_resource_history')).toBe(1);
    expect(await count('fhir_resource_history', "id = 'old'")).toBe(1);
    expect(await count('fhir_resource_history', "resource_type = 'Organization'")).toBe(1);
    expect(await count('fhir_resource')).toBe(2);

    await orm.getMigrator().down({ to: BEFORE });
    expect(await count('fhir_resource_history')).toBe(3);
    await orm.getMigrator().up();
  });
});
