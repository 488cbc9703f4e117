import { sql } from '../../database/sql-fragment';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { clauseCondition, sameValueCondition, type ConditionContext } from './search-conditions';

beforeAll(() => loadFhirDefinitions());

const ctx = (): ConditionContext => ({
  base: 'http://x/fhir',
  now: new Date('2024-01-01T00:00:00Z'),
  canSearch: () => true,
  aliases: { n: 0 },
  tokenHash: () => Buffer.alloc(32),
  stringHash: () => Buffer.alloc(32),
});
const row = { type: sql`'Observation'::text`, id: sql`r.id`, lastUpdated: sql`r.last_updated`, patientId: sql`r.patient_id` };
const fences = (text: string) => text.split('OFFSET 0').length - 1;

describe('chains', () => {
  // Without statistics PostgreSQL flattened nested chains into nested loops over every index row of
  // each code (minutes on 1,535 Observations): an inner chain is probed per reference instead.
  it('fence a chain inside a chain from the outer joins, and leave a one-level chain as a semi-join', () => {
    expect(fences(clauseCondition('Observation', row, 'subject:Patient.name', 'x', ctx()).text)).toBe(0);
    expect(fences(clauseCondition('Observation', row, 'encounter.subject.name', 'x', ctx()).text)).toBe(1);
    expect(fences(clauseCondition('Observation', row, 'encounter.subject:Patient.organization.name', 'x', ctx()).text)).toBe(2);
  });

  it('fence a chain inside _has', () => {
    const patient = { ...row, type: sql`'Patient'::text` };
    expect(fences(clauseCondition('Patient', patient, '_has:Observation:subject:code', 'x', ctx()).text)).toBe(0);
    expect(fences(clauseCondition('Patient', patient, '_has:Observation:subject:patient.name', 'x', ctx()).text)).toBe(1);
  });

  it('look only into the target types that define the next parameter', () => {
    // Encounter.subject refers to Group or Patient; only Patient has `name`.
    const text = clauseCondition('Observation', row, 'encounter.subject.name', 'x', ctx()).text;
    expect(text).toContain(`target_type = 'Patient'`);
    expect(text).not.toContain(`'Group'`);
  });
});

describe('repeated date clauses', () => {
  const exists = (text: string) => text.split('EXISTS').length - 1;

  it('test one index row for a parameter of at most one value per resource', () => {
    const cond = sameValueCondition('Observation', row, 'date', ['ge2020', 'lt2021,gt2022'], ctx());
    expect(cond && exists(cond.text)).toBe(1);
  });

  it('are left one by one where a resource may have several values, or for columns, modifiers and chains', () => {
    const allergy = { ...row, type: sql`'AllergyIntolerance'::text` };
    expect(sameValueCondition('AllergyIntolerance', allergy, 'onset', ['lt2011', 'gt2019'], ctx())).toBeUndefined();
    expect(sameValueCondition('Observation', row, '_lastUpdated', ['ge2020', 'lt2021'], ctx())).toBeUndefined();
    expect(sameValueCondition('Observation', row, 'date:missing', ['false', 'false'], ctx())).toBeUndefined();
    expect(sameValueCondition('Observation', row, 'code', ['a', 'b'], ctx())).toBeUndefined();
    expect(sameValueCondition('Observation', row, 'date', ['ge2020'], ctx())).toBeUndefined();
  });
});

describe('references to a type the parameter cannot point to', () => {
  const message = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    return 'no error';
  };

  it('are a 400 naming the parameter and its targets, as a value, after a type modifier, or in _has', () => {
    // Observation's encounter (R4 clinical-encounter) targets Encounter and EpisodeOfCare.
    expect(message(() => clauseCondition('Observation', row, 'encounter', 'Patient/x', ctx()))).toBe('encounter: Patient/x names a Patient, but encounter refers only to Encounter or EpisodeOfCare');
    expect(message(() => clauseCondition('Observation', row, 'encounter', 'Encounter/e,Patient/x', ctx()))).toMatch(/encounter refers only to Encounter or EpisodeOfCare$/);
    expect(message(() => clauseCondition('Observation', row, 'subject:Patient', 'Group/g', ctx()))).toMatch(/^subject:Patient: Group\/g names a Group, not a Patient$/);
    expect(message(() => clauseCondition('Observation', row, 'subject.general-practitioner', 'Encounter/e', ctx()))).toMatch(/general-practitioner refers only to .*Practitioner/);
    const patient = { ...row, type: sql`'Patient'::text` };
    expect(message(() => clauseCondition('Patient', patient, '_has:Observation:encounter:code', 'x', ctx()))).toBe("_has:Observation:encounter: Observation's encounter refers only to Encounter or EpisodeOfCare, never to a Patient");
  });

  it('leave targets, bare ids, absolute URLs and parameters without listed targets as they were', () => {
    expect(clauseCondition('Observation', row, 'encounter', 'Encounter/e', ctx()).text).toContain('target_type');
    expect(clauseCondition('Observation', row, 'encounter', 'x', ctx()).text).toContain('target_id');
    expect(clauseCondition('Observation', row, 'encounter', 'http://other/fhir/Patient/x', ctx()).text).toContain('.url =');
    expect(clauseCondition('Observation', row, 'subject', 'Group/g', ctx()).text).toContain('target_type');
    const encounter = { ...row, type: sql`'Encounter'::text` };
    expect(clauseCondition('Encounter', encounter, '_has:Observation:encounter:code', 'x', ctx()).text).toContain('EXISTS');
  });
});
