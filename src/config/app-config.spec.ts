import { availableParallelism } from 'node:os';
import { ConfigError, databaseName, loadConfig } from './app-config';

describe('loadConfig', () => {
  it('uses the documented defaults and reports the defaulted secrets outside production', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/fhir');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.queuePrefix).toBe('fhir');
    expect([...c.defaulted].sort()).toEqual(['AUTH_CLIENT_ID', 'AUTH_CLIENT_SECRET', 'ENCRYPTION_KEY']);
  });

  it("sizes the searches' pool from the host's cores unless SEARCH_POOL_MAX says, and refuses a bad size", () => {
    expect(loadConfig({}).searchPoolMax).toBe(Math.min(10, 2 * availableParallelism() + 1));
    expect(loadConfig({ SEARCH_POOL_MAX: '3' }).searchPoolMax).toBe(3);
    expect(() => loadConfig({ SEARCH_POOL_MAX: '0' })).toThrow(/SEARCH_POOL_MAX/);
    expect(() => loadConfig({ SEARCH_POOL_MAX: 'many' })).toThrow(/SEARCH_POOL_MAX/);
  });

  it('refuses to start in production without the secrets, naming each', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    try {
      loadConfig({ NODE_ENV: 'production' });
    } catch (e) {
      expect((e as Error).message).toMatch(/ENCRYPTION_KEY is required/);
      expect((e as Error).message).toMatch(/AUTH_CLIENT_ID is required/);
      expect((e as Error).message).toMatch(/AUTH_CLIENT_SECRET is required/);
    }
  });

  it('accepts production with every secret set', () => {
    const c = loadConfig({
      NODE_ENV: 'production',
      ENCRYPTION_KEY: 'k'.repeat(40),
      AUTH_CLIENT_ID: 'admin',
      AUTH_CLIENT_SECRET: 's'.repeat(24),
    });
    expect(c.defaulted).toEqual([]);
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT must be an integer/],
    [{ PORT: '70000' }, /PORT must be between/],
    [{ DATABASE_URL: 'mysql://x/y' }, /DATABASE_URL must use postgres/],
    [{ REDIS_URL: 'not a url' }, /REDIS_URL is not a valid URL/],
    [{ QUEUE_PREFIX: 'bad prefix!' }, /QUEUE_PREFIX/],
    [{ ENCRYPTION_KEY: 'short' }, /ENCRYPTION_KEY must be at least 32/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
  ])('rejects %p with a clear message', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('uses DATABASE_URL for migrations and LISTEN unless a direct URL is given (for a pooler in transaction mode)', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@pgbouncer:6432/fhir' }).databaseDirectUrl).toBe('postgres://u@pgbouncer:6432/fhir');
    const c = loadConfig({ DATABASE_URL: 'postgres://u@pgbouncer:6432/fhir', DATABASE_DIRECT_URL: 'postgres://u@db:5432/fhir' });
    expect(c.databaseUrl).toBe('postgres://u@pgbouncer:6432/fhir');
    expect(c.databaseDirectUrl).toBe('postgres://u@db:5432/fhir');
    expect(() => loadConfig({ DATABASE_DIRECT_URL: 'mysql://x/y' })).toThrow(/DATABASE_DIRECT_URL must use postgres/);
  });

  it('names the database of a URL', () => {
    expect(databaseName('postgres://u@h:5432/my_db?sslmode=disable')).toBe('my_db');
  });
});

describe('encryption keys', () => {
  const k = (c: string) => c.repeat(40);
  it('reads a key ring, the active key first', () => {
    const c = loadConfig({ ENCRYPTION_KEYS: `2:${k('b')},1:${k('a')}` });
    expect(c.encryptionKeys.map((x) => x.id)).toEqual([2, 1]);
    expect(c.encryptionKey).toBe(k('b'));
  });
  it.each([
    [{ ENCRYPTION_KEYS: 'nonsense' }, /ENCRYPTION_KEYS must look like/],
    [{ ENCRYPTION_KEYS: `1:${k('a')},1:${k('b')}` }, /twice/],
    [{ ENCRYPTION_KEYS: '2:short' }, /at least 32/],
    [{ ENCRYPTION_KEYS: `1:${k('a')}`, ENCRYPTION_KEY: k('c') }, /not both/],
  ])('refuses %p', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
