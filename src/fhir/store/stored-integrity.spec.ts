import { claimedIdentity, integrityProblem, StoredIntegrityError, assertIntegrity, type StoredRow } from './stored-integrity';

const report = (id: string, patient: string, version = 1) =>
  JSON.stringify({
    resourceType: 'DiagnosticReport',
    id,
    meta: { versionId: String(version), lastUpdated: '2024-01-01T00:00:00Z' },
    status: 'final',
    contained: [{ resourceType: 'Observation', id: 'other' }],
    subject: { reference: `Patient/${patient}` },
  });
const row = (over: Partial<StoredRow>): StoredRow => ({ resourceType: 'DiagnosticReport', id: 'r1', versionId: 1, patientId: 'p1', json: report('r1', 'p1'), sealed: true, ...over });

describe('claimedIdentity', () => {
  it('reads the top-level type, id and version, not those of contained resources', () => {
    const text = JSON.stringify({ meta: { tag: [{ id: 'x' }], versionId: '4' }, contained: [{ resourceType: 'Patient', id: 'c' }], id: 'a', resourceType: 'Observation' });
    expect(claimedIdentity(text)).toEqual({ resourceType: 'Observation', id: 'a', versionId: '4' });
  });
  it('reads PostgreSQL jsonb text (spaces, keys by length) and escaped strings', () => {
    expect(claimedIdentity('{"id": "a\\"b", "meta": {"versionId": "2"}, "text": {"div": "<div>}{</div>"}, "resourceType": "Basic"}')).toEqual({
      resourceType: 'Basic',
      id: 'a"b',
      versionId: '2',
    });
  });
  it('refuses what is not an object', () => {
    expect(claimedIdentity('[1]')).toBeUndefined();
    expect(claimedIdentity('{"id": "a", ')).toBeUndefined();
  });
});

describe('integrityProblem', () => {
  it('accepts a row whose content is its own', () => {
    expect(integrityProblem(row({}), true)).toBeUndefined();
  });
  it("refuses another resource's content moved into the row", () => {
    expect(integrityProblem(row({ json: report('r2', 'p2') }), true)).toMatch(/DiagnosticReport\/r2, not the row's/);
  });
  it("refuses a resource moved under another patient's key", () => {
    expect(integrityProblem(row({ patientId: 'p2' }), true)).toMatch(/does not refer to Patient\/p2/);
    expect(integrityProblem(row({ resourceType: 'Patient', id: 'p1', patientId: 'p2', json: '{"resourceType":"Patient","id":"p1"}' }), true)).toMatch(/filed under/);
    // A history row may hold a version from before the resource moved to this patient.
    expect(integrityProblem(row({ patientId: 'p2' }), false)).toBeUndefined();
    // Patient/p10 is not Patient/p1.
    expect(integrityProblem(row({ json: report('r1', 'p10') }), true)).toMatch(/does not refer to Patient\/p1/);
  });
  it('refuses an older version put back as the current one', () => {
    expect(integrityProblem(row({ versionId: 3 }), true)).toMatch(/version 1, not the row's 3/);
  });
  it('refuses plaintext where the type must be encrypted', () => {
    expect(integrityProblem(row({ sealed: false }), true)).toMatch(/plaintext/);
    expect(integrityProblem(row({ resourceType: 'Observation', sealed: false, json: '{"id": "r1", "meta": {"versionId": "1"}, "subject": {"reference": "Patient/p1"}, "resourceType": "Observation"}' }), true)).toBeUndefined();
  });
  it('throws a 500 OperationOutcome that does not name the other resource', () => {
    let error: unknown;
    try {
      assertIntegrity(row({ json: report('r2', 'p2') }), true);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoredIntegrityError);
    const e = error as StoredIntegrityError;
    expect(e.status).toBe(500);
    expect(e.outcome.issue[0].diagnostics).toBe('The stored record DiagnosticReport/r1 failed its integrity check and is not served');
    expect(e.message).toMatch(/r2/);
  });
});
