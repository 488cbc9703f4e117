import type { Claim, DocumentReference, InsurancePlan, MolecularSequence, Observation, Patient, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { componentCode, extractIndexRows, extractIndexRowsByEngine, extractTokenRows, identifierCode } from './index-extractor';

beforeAll(() => loadFhirDefinitions());

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  meta: { tag: [{ system: 'urn:t', code: 'vip' }] },
  identifier: [{ system: 'urn:mrn', value: 'M-1' }],
  name: [{ family: 'Müller', given: ['Anna', 'Lena'] }],
  gender: 'female',
  birthDate: '1970-03',
  active: true,
  address: [{ city: 'Boston', postalCode: '02101' }],
  generalPractitioner: [{ reference: 'Practitioner/dr1' }],
};

const bp: Observation = {
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' }], text: 'BP' },
  subject: { reference: 'Patient/p1' },
  effectivePeriod: { start: '2021-01-01T10:00:00Z' },
  component: [
    { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
    { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 80, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
  ],
};

describe('extractIndexRows', () => {
  it('indexes a Patient by name parts (normalised), gender, birthdate range, tags and references', () => {
    const rows = extractIndexRows(patient);
    const names = rows.string.filter((r) => r.code === 'name').map((r) => r.value).sort();
    expect(names).toEqual(['anna', 'lena', 'muller']);
    expect(rows.string.find((r) => r.code === 'family')?.exact).toBe('Müller');
    expect(rows.token).toContainEqual(expect.objectContaining({ code: 'gender', system: 'http://hl7.org/fhir/administrative-gender', value: 'female' }));
    expect(rows.token).toContainEqual(expect.objectContaining({ code: 'identifier', system: 'urn:mrn', value: 'M-1' }));
    expect(rows.token).toContainEqual(expect.objectContaining({ code: '_tag', system: 'urn:t', value: 'vip' }));
    expect(rows.token).toContainEqual(expect.objectContaining({ code: 'active', value: 'true' }));
    expect(rows.date).toContainEqual({ code: 'birthdate', grp: 0, low: '1970-03-01T00:00:00.000Z', high: '1970-04-01T00:00:00.000Z' });
    expect(rows.reference).toContainEqual({ code: 'general-practitioner', grp: 0, targetType: 'Practitioner', targetId: 'dr1', url: null });
    expect(rows.string.filter((r) => r.code === 'address-city').map((r) => r.value)).toEqual(['boston']);
  });

  it('indexes an Observation: subject as patient, an open period, and composite components grouped', () => {
    const rows = extractIndexRows(bp);
    expect(rows.reference).toContainEqual({ code: 'patient', grp: 0, targetType: 'Patient', targetId: 'p1', url: null });
    expect(rows.reference).toContainEqual({ code: 'subject', grp: 0, targetType: 'Patient', targetId: 'p1', url: null });
    expect(rows.date).toContainEqual({ code: 'date', grp: 0, low: '2021-01-01T10:00:00.000Z', high: 'infinity' });
    expect(rows.token).toContainEqual(expect.objectContaining({ code: 'code', system: 'http://loinc.org', value: '85354-9', text: 'blood pressure panel bp' }));
    const codes = rows.token.filter((r) => r.code === componentCode('component-code-value-quantity', 0));
    const values = rows.quantity.filter((r) => r.code === componentCode('component-code-value-quantity', 1));
    expect(codes).toHaveLength(2);
    const systolic = codes.find((c) => c.value === '8480-6')!;
    expect(values.filter((v) => v.grp === systolic.grp).map((v) => v.low)).toEqual(['120', '120']);
    expect(rows.quantity).toContainEqual(expect.objectContaining({ code: 'component-value-quantity', system: 'http://unitsofmeasure.org', unit: 'mm[Hg]', low: '80' }));
  });

  it('indexes the logical identifier of a reference as a token', () => {
    const rows = extractIndexRows({ ...bp, subject: { identifier: { system: 'urn:mrn', value: 'M-1' } } });
    expect(rows.token).toContainEqual(expect.objectContaining({ code: identifierCode('subject'), system: 'urn:mrn', value: 'M-1' }));
  });

  it('evaluates a composite component that names the resource (%resource), grouped with the value it belongs to', () => {
    const seq: MolecularSequence = {
      resourceType: 'MolecularSequence',
      id: 'm1',
      coordinateSystem: 0,
      referenceSeq: { chromosome: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/chromosome-human', code: '1' }] }, windowStart: 0, windowEnd: 100 },
      variant: [{ start: 10, end: 12 }, { start: 40, end: 41 }],
    };
    const rows = extractIndexRows(seq);
    const code = 'chromosome-variant-coordinate';
    const chromosomes = rows.token.filter((r) => r.code === componentCode(code, 0));
    expect(chromosomes.map((r) => r.value)).toEqual(['1', '1']);
    for (const c of chromosomes) expect(rows.number.filter((r) => r.code === componentCode(code, 1) && r.grp === c.grp)).toHaveLength(1);
    expect(rows.number.filter((r) => r.code === componentCode(code, 1)).map((r) => r.low).sort()).toEqual(['10', '40']);
  });

  it('indexes a relative canonical as the resource it names, and keeps an absolute one as a URL', () => {
    const base: QuestionnaireResponse = { resourceType: 'QuestionnaireResponse', id: 'qr1', status: 'completed' };
    expect(extractIndexRows({ ...base, questionnaire: 'Questionnaire/gcs' }).reference).toContainEqual({ code: 'questionnaire', grp: 0, targetType: 'Questionnaire', targetId: 'gcs', url: 'Questionnaire/gcs' });
    expect(extractIndexRows({ ...base, questionnaire: 'http://example.org/Questionnaire/gcs|2' }).reference).toContainEqual({ code: 'questionnaire', grp: 0, targetType: null, targetId: null, url: 'http://example.org/Questionnaire/gcs' });
  });

  it('records a reference to a contained resource as a value (for :missing), naming no resource of the server', () => {
    const claim = { resourceType: 'Claim', id: 'c1', contained: [{ resourceType: 'Patient', id: 'p' }], patient: { reference: '#p' } } as unknown as Claim;
    expect(extractIndexRows(claim).reference).toContainEqual({ code: 'patient', grp: 0, targetType: null, targetId: null, url: '#p' });
  });

  it('indexes a parameter whose R4 expression is a relative path (InsurancePlan name: `name | alias`)', () => {
    const plan: InsurancePlan = { resourceType: 'InsurancePlan', id: 'i1', name: 'Foo Care', alias: ['Bar'] };
    expect(extractIndexRows(plan).string.filter((r) => r.code === 'name').map((r) => r.value).sort()).toEqual(['bar', 'foo care']);
  });

  describe('code elements carry the code system of their required binding (search.html, token on code)', () => {
    const GENDER = 'http://hl7.org/fhir/administrative-gender';
    const tokens = (rows: { token: Array<{ code: string; system: string | null; value: string | null }> }, code: string) =>
      rows.token.filter((r) => r.code === code).map((r) => [r.system, r.value]);

    it('gender and address-use (plain paths), with or without extensions on the primitive, by either evaluator', () => {
      const withExtension = { ...patient, _gender: { extension: [{ url: 'urn:x', valueString: 'y' }] }, address: [{ use: 'home' as const, city: 'Boston' }] } as Patient;
      for (const rows of [extractIndexRows(withExtension), extractIndexRowsByEngine(withExtension)]) {
        expect(tokens(rows, 'gender')).toEqual([[GENDER, 'female']]);
        expect(tokens(rows, 'address-use')).toEqual([['http://hl7.org/fhir/address-use', 'home']]);
      }
      expect(extractTokenRows(patient, 'gender').map((r) => [r.system, r.value])).toEqual([[GENDER, 'female']]);
    });

    it('codings keep their own systems; a code bound to several systems (Task.intent) keeps none', () => {
      const task: Task = { resourceType: 'Task', id: 't1', status: 'requested', intent: 'order', code: { coding: [{ system: 'urn:c', code: 'x' }] } };
      const rows = extractIndexRows(task);
      expect(tokens(rows, 'intent')).toEqual([[null, 'order']]);
      expect(tokens(rows, 'status')).toEqual([['http://hl7.org/fhir/task-status', 'requested']]);
      expect(tokens(rows, 'code')).toEqual([['urn:c', 'x']]);
      expect(tokens(extractIndexRows(bp), 'status')).toEqual([['http://hl7.org/fhir/observation-status', 'final']]);
    });

    it('a code component of a composite too (DocumentReference relationship: relatesto$relation)', () => {
      const doc: DocumentReference = {
        resourceType: 'DocumentReference',
        id: 'd1',
        status: 'current',
        content: [{ attachment: { contentType: 'text/plain' } }],
        relatesTo: [{ code: 'replaces', target: { reference: 'DocumentReference/d0' } }],
      };
      const rows = extractIndexRows(doc);
      const rel = 'http://hl7.org/fhir/document-relationship-type';
      expect(tokens(rows, componentCode('relationship', 1))).toEqual([[rel, 'replaces']]);
      expect(tokens(rows, 'relation')).toEqual([[rel, 'replaces']]);
      expect(tokens(rows, 'contenttype')).toEqual([['urn:ietf:bcp:13', 'text/plain']]);
    });
  });
});
