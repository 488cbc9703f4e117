import { DatabaseService } from '../../src/database/database.service';
import { startTestApp, type TestApp } from '../helpers/test-app';

/** Errors reach the logs: a failed statement must not carry its bind values (keys, secrets) into them. */
describe('SQL errors', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('name the statement with placeholders, never the values bound to it', async () => {
    const db = t.app.get(DatabaseService);
    const secret = 'very-secret-key-material-0123456789';
    const outside = await db.query('SELECT pgp_sym_encrypt(?, ?) / 0', ['plaintext', secret]).catch((e: Error) => e);
    expect(outside).toBeInstanceOf(Error);
    expect((outside as Error).message).toMatch(/operator does not exist|division/);
    expect((outside as Error).message).not.toContain(secret);
    const inside = await db.transaction({ actor: 'test' }, (tx) => tx.query('SELECT fhir_decrypt(?::bytea, 1::smallint, ?::text[])', ['\\x00', [secret]])).catch((e: Error) => e);
    expect(inside).toBeInstanceOf(Error);
    expect((inside as Error).message).not.toContain(secret);
    expect((inside as Error).message).toContain('fhir_decrypt($1::bytea');
  });
});
