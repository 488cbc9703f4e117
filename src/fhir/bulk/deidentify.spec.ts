import type { Condition, Observation, Patient } from '@medplum/fhirtypes';
import { MAX_SHIFT_DAYS, MIN_SHIFT_DAYS, createDeidentifier, shiftDate } from './deidentify';

const KEY = Buffer.alloc(32, 7);
const deid = createDeidentifier(KEY);

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  meta: { versionId: '3', lastUpdated: '2024-02-29T10:00:00.123Z', source: '#req-42', tag: [{ system: 'urn:t', code: 'vip' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Anna Müller</div>' },
  extension: [
    { url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 'Schmidt' },
    { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueAddress: { city: 'Hamburg', state: 'HH', country: 'DE' } },
    { url: 'http://example.org/qaly', valueDecimal: 51.5 },
    {
      url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
      extension: [
        { url: 'ombCategory', valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2106-3', display: 'White' } },
        { url: 'text', valueString: 'White' },
      ],
    },
  ],
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-ssn', value: '999-12-3456' }],
  name: [{ family: 'Müller', given: ['Anna'] }],
  telecom: [{ system: 'phone', value: '555-0100' }],
  gender: 'female',
  birthDate: '1970-03-14',
  deceasedDateTime: '2020-01-02T03:04:05+01:00',
  address: [{ line: ['1 Main St'], city: 'Boston', district: 'Suffolk', postalCode: '02101', state: 'MA', country: 'US', period: { start: '2001-05-06' } }],
  maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M' }], text: 'Married' },
  multipleBirthBoolean: false,
  photo: [{ contentType: 'image/png', data: 'iVBORw0K' }],
  contact: [{ name: { family: 'Müller', given: ['Hans'] }, telecom: [{ system: 'phone', value: '555-0101' }] }],
  generalPractitioner: [{ reference: 'Practitioner/dr1', display: 'Dr. Frank Zappa' }],
  managingOrganization: { reference: 'http://other.example/fhir/Organization/o1/_history/2', display: 'General Hospital' },
};

const observation: Observation = {
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure' }], text: 'Systolic blood pressure' },
  subject: { reference: 'Patient/p1', display: 'Anna Müller' },
  encounter: { reference: 'urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e' },
  performer: [{ reference: 'Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|123' }],
  effectivePeriod: { start: '2024-01-01T08:00:00Z', end: '2024-01-03T08:00:00Z' },
  issued: '2024-01-03T09:00:00.000Z',
  valueQuantity: { value: 120, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
  note: [{ text: 'Anna said her neighbour Bob drove her in', time: '2024-01-01T08:00:00Z' }],
  contained: [{ resourceType: 'Patient', id: 'inner', name: [{ family: 'Other' }], birthDate: '1990-01-01' } as Patient],
};

describe('createDeidentifier', () => {
  it('removes names, telecom, identifiers, address details, photos, contacts, narrative and free text', () => {
    const out = deid.resource(patient, 'p1');
    const text = JSON.stringify(out);
    for (const secret of ['Müller', 'Anna', 'Schmidt', 'Hamburg', '999-12-3456', '555-010', '1 Main St', 'Boston', 'Suffolk', '02101', 'Zappa', 'General Hospital', 'iVBORw0K', 'Hans', 'req-42', 'p1', 'dr1']) {
      expect(text).not.toContain(secret);
    }
    expect(out.name).toBeUndefined();
    expect(out.identifier).toBeUndefined();
    expect(out.text).toBeUndefined();
    expect(out.address).toEqual([{ state: 'MA', country: 'US', period: { start: expect.any(String) } }]);
    // Coded meaning kept; free-text extensions (mothersMaidenName, race text) gone; other values kept.
    expect(out.gender).toBe('female');
    expect(out.maritalStatus).toEqual(patient.maritalStatus);
    expect(out.multipleBirthBoolean).toBe(false);
    expect(out.meta?.tag).toEqual(patient.meta?.tag);
    expect(out.meta?.versionId).toBe('3');
    const urls = (out.extension ?? []).map((e) => e.url);
    expect(urls).toEqual(['http://hl7.org/fhir/StructureDefinition/patient-birthPlace', 'http://example.org/qaly', 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race']);
    expect(out.extension?.[0].valueAddress).toEqual({ state: 'HH', country: 'DE' });
    expect(out.extension?.[2].extension).toEqual([{ url: 'ombCategory', valueCoding: patient.extension?.[3].extension?.[0].valueCoding }]);
  });

  it('shifts every date of a patient by the same whole number of days, keeping precision, time and zone', () => {
    const days = deid.dayOffset('p1');
    expect(Math.abs(days)).toBeGreaterThanOrEqual(MIN_SHIFT_DAYS);
    expect(Math.abs(days)).toBeLessThanOrEqual(MAX_SHIFT_DAYS);
    const p = deid.resource(patient, 'p1');
    const o = deid.resource(observation, 'p1');
    const diff = (a: string, b: string) => Math.round((Date.parse(a) - Date.parse(b)) / 86_400_000);
    expect(diff(p.birthDate as string, '1970-03-14')).toBe(days);
    expect(diff(p.deceasedDateTime as string, '2020-01-02T03:04:05+01:00')).toBe(days);
    expect((p.deceasedDateTime as string).slice(10)).toBe('T03:04:05+01:00');
    expect(diff(p.meta?.lastUpdated as string, '2024-02-29T10:00:00.123Z')).toBe(days);
    expect(diff(o.effectivePeriod?.start as string, '2024-01-01T08:00:00Z')).toBe(days);
    expect(diff(o.effectivePeriod?.end as string, '2024-01-03T08:00:00Z')).toBe(days);
    expect(diff(o.issued as string, '2024-01-03T09:00:00.000Z')).toBe(days);
    expect(diff(p.address?.[0].period?.start as string, '2001-05-06')).toBe(days);
    // Intervals within the patient are kept exactly (age at the observation).
    expect(diff(o.effectivePeriod?.start as string, p.birthDate as string)).toBe(diff('2024-01-01T08:00:00Z', '1970-03-14'));
  });

  it('gives different patients different offsets, stable for one key and different under another', () => {
    const offsets = new Set(Array.from({ length: 50 }, (_, i) => deid.dayOffset(`patient-${i}`)));
    expect(offsets.size).toBeGreaterThan(30);
    expect(createDeidentifier(KEY).dayOffset('p1')).toBe(deid.dayOffset('p1'));
    const other = createDeidentifier(Buffer.alloc(32, 8));
    expect(other.pseudonym('Patient', 'p1')).not.toBe(deid.pseudonym('Patient', 'p1'));
  });

  it('replaces ids and references by stable pseudonyms, consistently, and drops what cannot be pseudonymised', () => {
    const p = deid.resource(patient, 'p1');
    const o = deid.resource(observation, 'p1');
    expect(p.id).toMatch(/^[0-9a-f]{32}$/);
    expect(p.id).toBe(deid.pseudonym('Patient', 'p1'));
    expect(p.id).not.toBe(deid.pseudonym('Observation', 'p1'));
    expect(o.subject).toEqual({ reference: `Patient/${p.id}` });
    expect(p.generalPractitioner).toEqual([{ reference: `Practitioner/${deid.pseudonym('Practitioner', 'dr1')}` }]);
    expect(p.managingOrganization).toEqual({ reference: `Organization/${deid.pseudonym('Organization', 'o1')}` });
    expect(o.encounter?.reference).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(o.encounter?.reference).not.toContain('0f8fad5b');
    expect(o.performer).toBeUndefined(); // a conditional reference carries an identifier
    expect(deid.resource(observation, 'p1')).toEqual(o); // deterministic
  });

  it('keeps codes and values, removes notes, and de-identifies contained resources keeping their local ids', () => {
    const o = deid.resource(observation, 'p1');
    expect(o.code).toEqual(observation.code);
    expect(o.valueQuantity).toEqual(observation.valueQuantity);
    expect(o.status).toBe('final');
    expect(o.note).toBeUndefined();
    expect(o.contained).toEqual([{ resourceType: 'Patient', id: 'inner', birthDate: shiftDate('1990-01-01', deid.dayOffset('p1')) }]);
    expect(JSON.stringify(o)).not.toContain('neighbour');
  });

  it('pseudonymises the ids of resources inside a Bundle and drops its URLs', () => {
    const bundle = deid.resource(
      {
        resourceType: 'Bundle',
        id: 'b1',
        type: 'collection',
        entry: [{ fullUrl: 'http://x/fhir/Patient/p1', resource: { resourceType: 'Patient', id: 'p1', gender: 'male' } }],
      } as never,
      'p1',
    ) as unknown as { entry: Array<Record<string, unknown>> };
    expect(bundle.entry).toEqual([{ resource: { resourceType: 'Patient', id: deid.pseudonym('Patient', 'p1'), gender: 'male' } }]);
  });

  it('does not change its input', () => {
    const before = JSON.stringify(patient);
    deid.resource(patient, 'p1');
    expect(JSON.stringify(patient)).toBe(before);
  });

  it('masks a required element it removes with a data-absent-reason, so the resource stays valid', () => {
    const eob = deid.resource(
      { resourceType: 'Communication', id: 'c1', status: 'completed', subject: { reference: 'Patient/p1' }, payload: [{ contentString: 'Call Anna at 555-0100' }] } as never,
      'p1',
    ) as unknown as { payload: Array<Record<string, unknown>> };
    expect(JSON.stringify(eob)).not.toContain('Anna');
    expect(eob.payload).toEqual([{ _contentString: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] } }]);
    const claim = deid.resource({ resourceType: 'Coverage', id: 'cv', status: 'active', beneficiary: { reference: 'Patient/p1' }, payor: [{ display: 'Anna Müller' }] } as never, 'p1') as unknown as Record<string, unknown>;
    expect(claim.payor).toEqual([{ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] }]);
  });

  it('drops elements the R4 definitions do not know', () => {
    const c = deid.resource({ resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient/p1' }, secretName: 'Anna' } as Condition, 'p1');
    expect(JSON.stringify(c)).not.toContain('Anna');
  });
});

describe('shiftDate', () => {
  it('shifts days, months and years across boundaries, keeping precision', () => {
    expect(shiftDate('2024-02-28', 2)).toBe('2024-03-01');
    expect(shiftDate('2023-12-31T23:59:59.999+14:00', 1)).toBe('2024-01-01T23:59:59.999+14:00');
    expect(shiftDate('2024-03-01', -1)).toBe('2024-02-29');
    expect(shiftDate('2024-06', 40)).toBe('2024-07');
    expect(shiftDate('2024-06', -10)).toBe('2024-06');
    expect(shiftDate('1999', 100)).toBe('1999');
    expect(shiftDate('1999', 200)).toBe('2000');
    expect(shiftDate('1999', -200)).toBe('1998');
    expect(shiftDate('0050-01-10', -5)).toBe('0050-01-05');
    expect(shiftDate('not a date', 3)).toBeUndefined();
  });
});
