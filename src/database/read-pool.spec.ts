import { parse } from 'pg-connection-string';
import { readPoolConfig } from './read-pool';

describe('readPoolConfig', () => {
  it('opens connections read-only with the timeout, no parallel workers and no JIT, leaving the URL as it is', () => {
    const c = readPoolConfig('postgres://u:p@db.example:6543/fhir?sslmode=require', 2500.7, 7);
    expect(c).toEqual({ connectionString: 'postgres://u:p@db.example:6543/fhir?sslmode=require', options: '-c max_parallel_workers_per_gather=0 -c jit=off -c default_transaction_read_only=on -c statement_timeout=2500', max: 7, idleTimeoutMillis: 30_000 });
  });

  it("keeps the URL's own options, before its settings (after the parallel and JIT defaults they may change), out of the URL (where they would replace the settings)", () => {
    const c = readPoolConfig('postgres://u@db/fhir?options=-c%20search_path%3Dfhir%20-c%20max_parallel_workers_per_gather%3D2&application_name=api', 100, 1);
    expect(c.options).toBe('-c max_parallel_workers_per_gather=0 -c jit=off -c search_path=fhir -c max_parallel_workers_per_gather=2 -c default_transaction_read_only=on -c statement_timeout=100');
    const parsed = parse(c.connectionString!);
    expect(parsed.options).toBeUndefined();
    expect(parsed).toMatchObject({ host: 'db', database: 'fhir', user: 'u', application_name: 'api' });
  });
});
