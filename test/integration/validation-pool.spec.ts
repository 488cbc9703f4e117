import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ValidationPool, type ValidationItem } from '../../src/fhir/definitions/validation-pool';
import { validateFhirResource } from '../../src/fhir/definitions/resource-validator';
import { OperationOutcomeError } from '../../src/fhir/operation-outcome';

/** What validateFhirResource says of an item in this thread: 'valid', or the status and outcome of its error. */
function here(item: ValidationItem): unknown {
  try {
    validateFhirResource(item.resource, item.type);
    return 'valid';
  } catch (e) {
    if (!(e instanceof OperationOutcomeError)) throw e;
    return { status: e.status, outcome: e.outcome };
  }
}

function said(result: OperationOutcomeError | undefined): unknown {
  return result ? { status: result.status, outcome: result.outcome } : 'valid';
}

/** Official R4 examples, each also spoilt in one of several ways (an unknown element, an empty string, a wrong type, a bad id). */
function items(count: number): ValidationItem[] {
  const dir = dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
  const out: ValidationItem[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (out.length >= count) break;
    if (!file.endsWith('.json') || file === 'package.json') continue;
    const resource = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    if (typeof resource.resourceType !== 'string' || resource.resourceType === 'Bundle') continue;
    const type = resource.resourceType;
    out.push({ resource, type });
    const spoilt = [{ ...resource, bogus: true }, { ...resource, language: '' }, { ...resource, id: 'not an id!' }, resource];
    const n = out.length % 5;
    if (n < 3) out.push({ resource: spoilt[n], type });
    else if (n === 3) out.push({ resource, type: type === 'Patient' ? 'Observation' : 'Patient' });
  }
  return out;
}

describe('ValidationPool', () => {
  const sample = items(400);
  let pool: ValidationPool | undefined;
  afterEach(async () => {
    await pool?.onApplicationShutdown();
    pool = undefined;
  });

  it('answers every resource exactly as validateFhirResource does in the caller thread, in order', async () => {
    pool = new ValidationPool({ validationThreads: 2 });
    await pool.start(); // both threads up, definitions loaded
    expect((pool as unknown as { threads: unknown[] }).threads).toHaveLength(2);
    const results = await pool.validateMany(sample);
    expect(results).toHaveLength(sample.length);
    const expected = sample.map(here);
    expect(results.map(said)).toEqual(expected);
    // The sample holds both kinds, so the comparison could fail either way.
    expect(expected.filter((e) => e === 'valid').length).toBeGreaterThan(100);
    expect(expected.filter((e) => e !== 'valid').length).toBeGreaterThan(100);
    expect((pool as unknown as { threads: unknown[] }).threads).toHaveLength(2);
  });

  it('sees what JSON.parse made of hostile keys (an own __proto__ survives the copy to the thread)', async () => {
    pool = new ValidationPool({ validationThreads: 1 });
    const hostile = JSON.parse('{"resourceType":"Basic","code":{"text":"x"},"__proto__":{"admin":true}}') as Record<string, unknown>;
    const batch = Array.from({ length: 10 }, () => ({ resource: hostile, type: 'Basic' }));
    const results = await pool.validateMany(batch);
    expect(results.map(said)).toEqual(batch.map(here));
    expect(results[0]?.status).toBe(400);
    expect(JSON.stringify(results[0]?.outcome)).toContain('__proto__');
  });

  it('validates in the caller thread with VALIDATION_THREADS=0 or few items, with the same answers', async () => {
    pool = new ValidationPool({ validationThreads: 0 });
    expect((await pool.validateMany(sample.slice(0, 50))).map(said)).toEqual(sample.slice(0, 50).map(here));
    const few = new ValidationPool({ validationThreads: 2 });
    expect((await few.validateMany(sample.slice(0, 3))).map(said)).toEqual(sample.slice(0, 3).map(here));
    expect((few as unknown as { threads: unknown[] }).threads).toHaveLength(0);
  });

  it('fails the items of a thread that dies (never passes them) and replaces the thread', async () => {
    pool = new ValidationPool({ validationThreads: 1 });
    await pool.validateMany(sample.slice(0, 20)); // the thread is up
    const threads = (pool as unknown as { threads: Array<{ worker: { terminate(): Promise<number> } }> }).threads;
    const pending = pool.validateMany(sample.slice(0, 200));
    await threads[0].worker.terminate();
    await expect(pending).rejects.toThrow(/validation thread exited/);
    const again = await pool.validateMany(sample.slice(0, 40));
    expect(again.map(said)).toEqual(sample.slice(0, 40).map(here));
  });
});
