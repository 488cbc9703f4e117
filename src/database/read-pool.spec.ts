import { parse } from 'pg-connection-string';
import { readPoolConfig } from './read-pool';

describe('readPoolConfig', () => {
  it('opens connections read-only with the timeout, leaving the URL as it is', () => {
    const c = readPoolConfig('postgres://u:p@db.example:6543/fhir?sslmode=require', 2500.7, 7);
    expect(c).toEqual({ connectionString: 'postgres://u:p@db.example:6543/fhir?sslmode=require', options: '-c default_transaction_read_only=on -c statement_timeout=2500', max: 7, idleTimeoutMillis: 30_000 });
  });

  it("keeps the URL's own options, before its settings, out of the URL (where they would replace the settings)", () => {
    const c = readPoolConfig('postgres://u@db/fhir?options=-c%20search_path%3Dfhir&application_name=api', 100, 1);
    expect(c.options).toBe('-c search_path=fhir -c default_transaction_read_only=on -c statement_timeout=100');
    const parsed = parse(c.connectionString!);
    expect(parsed.options).toBeUndefined();
    expect(parsed).toMatchObject({ host: 'db', database: 'fhir', user: 'u', application_name: 'api' });
  });
});
