import { OperationOutcomeError } from '../operation-outcome';
import type { Resource } from '@medplum/fhirtypes';
import { IntegrityError, translateConstraintError } from './constraint-errors';

describe('translateConstraintError', () => {
  it('answers a deadlock or serialization failure with a 409 that says to try again, revealing no SQL', () => {
    for (const code of ['40P01', '40001']) {
      const e = translateConstraintError({ code, message: 'deadlock detected', detail: 'Process 1 waits for ShareLock on transaction 2' });
      expect(e).toBeInstanceOf(OperationOutcomeError);
      expect((e as OperationOutcomeError).status).toBe(409);
      expect((e as OperationOutcomeError).outcome.issue?.[0]).toMatchObject({ code: 'transient' });
      expect(JSON.stringify((e as OperationOutcomeError).outcome)).not.toMatch(/ShareLock|Process/);
    }
  });

  it('names an unresolvable reference (400) and a still-referenced resource (409)', () => {
    const missing = translateConstraintError({ code: '23503', detail: 'Key (patient_id, doctor_id)=(p1, d9) is not present in table "doctors".' }) as OperationOutcomeError;
    expect(missing.status).toBe(400);
    expect(missing.message).toContain('Practitioner/d9');
    const still = translateConstraintError({
      code: '23503',
      message: 'update or delete on table "patients" violates foreign key constraint "x" on table "encounters"',
      detail: 'Key (id)=(p1) is still referenced from table "encounters".',
    }) as OperationOutcomeError;
    expect(still.status).toBe(409);
    expect(still.message).toContain('Patient/p1');
  });

  it('leaves other errors alone', () => {
    const other = new Error('boom');
    expect(translateConstraintError(other)).toBe(other);
  });
});

describe('IntegrityError.pointedAt', () => {
  it('points a missing reference at the elements that hold it (the database names only the resource)', () => {
    const obs = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Patient/abc' },
      performer: [{ reference: 'Practitioner/d1' }, { reference: 'Patient/abc/_history/2' }],
    } as Resource;
    const pointed = IntegrityError.missing('Patient/abc').pointedAt(obs);
    expect(pointed).toBeInstanceOf(IntegrityError);
    expect(pointed.status).toBe(400);
    expect(pointed.outcome.issue?.[0]).toMatchObject({ severity: 'error', expression: ['Observation.subject', 'Observation.performer[1]'] });
    expect(pointed.message).toContain('Patient/abc');
    // Not named by the resource (a compartment found otherwise), or a deletion: unchanged.
    const elsewhere = IntegrityError.missing('Patient/zzz');
    expect(elsewhere.pointedAt(obs)).toBe(elsewhere);
    const referenced = IntegrityError.referenced('Patient/abc', 'Observation');
    expect(referenced.pointedAt(obs)).toBe(referenced);
  });
});
