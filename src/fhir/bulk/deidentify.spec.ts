import type { Condition, Observation, Patient } from '@medplum/fhirtypes';
import { MAX_SHIFT_DAYS, MIN_SHIFT_DAYS, createDeidentifier, isKnownNamespace, shiftDate } from './deidentify';
import { parseFhirJson } from '../json/fhir-json';
import { stringifyFhirJson } from '../json/lexemes';

const MASKED = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] };

const KEY = Buffer.alloc(32, 7);
const deid = createDeidentifier(KEY);

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  meta: { versionId: '3', lastUpdated: '2024-02-29T10:00:00.123Z', source: '#req-42', tag: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HTEST' }, { system: 'urn:t', code: 'vip' }] },
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
    expect(out.maritalStatus).toEqual({ coding: patient.maritalStatus?.coding }); // its text is free text
    expect(out.multipleBirthBoolean).toBe(false);
    expect(out.meta?.tag).toEqual([patient.meta?.tag?.[0]]); // a tag of a local system goes
    expect(out.meta?.versionId).toBe('3');
    // The real time of the write goes: shifted, it would tell the shift to whoever knows when it was written.
    expect(out.meta).not.toHaveProperty('lastUpdated');
    // Only known-safe extensions: a local one goes whatever its value.
    const urls = (out.extension ?? []).map((e) => e.url);
    expect(urls).toEqual(['http://hl7.org/fhir/StructureDefinition/patient-birthPlace', 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race']);
    expect(out.extension?.[0].valueAddress).toEqual({ state: 'HH', country: 'DE' });
    expect(out.extension?.[1].extension).toEqual([{ url: 'ombCategory', valueCoding: patient.extension?.[3].extension?.[0].valueCoding }]);
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

  it('keeps codes and values, removes notes, and de-identifies contained resources with local pseudonyms', () => {
    const o = deid.resource(observation, 'p1');
    expect(o.code).toEqual({ coding: observation.code.coding });
    expect(o.valueQuantity).toEqual(observation.valueQuantity);
    expect(o.status).toBe('final');
    expect(o.note).toBeUndefined();
    expect(o.contained).toEqual([{ resourceType: 'Patient', id: expect.stringMatching(/^[0-9a-f]{16}$/), birthDate: shiftDate('1990-01-01', deid.dayOffset('p1')) }]);
    expect(JSON.stringify(o)).not.toContain('neighbour');
    // A reference to a contained resource follows its local pseudonym.
    const withRef = deid.resource({ ...observation, contained: [{ resourceType: 'Patient', id: 'jane-roe', gender: 'female' }], subject: { reference: '#jane-roe' } } as Observation, 'p1');
    expect(withRef.subject?.reference).toBe(`#${(withRef.contained?.[0] as Patient).id}`);
    expect(JSON.stringify(withRef)).not.toContain('jane-roe');
  });

  // The outside tester's findings: each of these survived the export before.
  it('drops geolocation and every extension not known to be safe, whatever its value type', () => {
    const p = deid.resource(
      {
        resourceType: 'Patient',
        id: 'p1',
        extension: [
          { url: 'http://example.org/email', valueUri: 'mailto:jane.roe@example.com' },
          { url: 'http://example.org/profile', valueUrl: 'https://facebook.com/jane.roe.1970' },
          { url: 'http://example.org/ssn', valueId: 'ssn-123-45-6789' },
          { url: 'http://example.org/oid', valueOid: 'urn:oid:1.2.3.4.5.6789' },
          { url: 'http://example.org/mrn', valueCode: 'MRN778899' },
          { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' },
        ],
        address: [
          {
            extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/geolocation', extension: [{ url: 'latitude', valueDecimal: 42.3581234 }, { url: 'longitude', valueDecimal: -71.0636789 }] }],
            line: ['1 Main St'],
            state: 'MA',
          },
        ],
        _birthDate: { extension: [{ url: 'http://example.org/birth-hospital', valueString: 'St Mary' }] },
        birthDate: '1970-03-14',
      } as Patient,
      'p1',
    );
    const text = JSON.stringify(p);
    for (const secret of ['jane.roe', 'facebook', '6789', 'MRN778899', '42.358', '71.063', 'St Mary', 'example.org']) expect(text).not.toContain(secret);
    expect(p.extension).toEqual([{ url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' }]);
    expect(p.address).toEqual([{ state: 'MA' }]);
    expect((p as unknown as Record<string, unknown>)._birthDate).toBeUndefined();
  });

  it('removes all free text: CodeableConcept.text, Dosage.text, descriptions, element ids', () => {
    const o = deid.resource(
      {
        resourceType: 'Observation',
        id: 'o2',
        status: 'final',
        code: { text: 'Note for Jane Roe SSN 123-45-6789' },
        valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '373066001', display: 'Yes' }], text: 'lives at 12 Elm Street, Springfield' },
        interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }], text: 'call 555-867-5309' }],
        component: [{ id: 'ssn-987-65-4321', code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 80, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } }],
      } as Observation,
      'p1',
    );
    const text = JSON.stringify(o);
    for (const secret of ['Jane', '123-45-6789', 'Elm', '555-867', '987-65']) expect(text).not.toContain(secret);
    expect(o.code).toEqual(MASKED); // required, text only: masked so the Observation stays valid
    expect(o.valueCodeableConcept).toEqual({ coding: [{ system: 'http://snomed.info/sct', code: '373066001', display: 'Yes' }] });
    expect(o.component?.[0].valueQuantity?.value).toBe(80);
    const m = deid.resource(
      {
        resourceType: 'MedicationRequest',
        id: 'm1',
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }] },
        subject: { reference: 'Patient/p1' },
        dosageInstruction: [{ text: 'Take 1 daily; SSN 123-45-6789, call 555-111-2222', timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } } }],
      } as never,
      'p1',
    ) as unknown as Record<string, any>;
    expect(JSON.stringify(m)).not.toMatch(/123-45|555-111/);
    expect(m.dosageInstruction).toEqual([{ timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } } }]);
    expect(m.medicationCodeableConcept.coding[0].code).toBe('197361');
  });

  it('keeps uri values and codes only in known namespaces, and drops identifiers of other types', () => {
    const o = deid.resource(
      {
        resourceType: 'Observation',
        id: 'o3',
        status: 'final',
        meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-vital-signs', 'https://jane-roe.example/profile'] },
        implicitRules: 'https://jane-roe.example/rules',
        code: {
          coding: [
            { system: 'http://loinc.org', code: '8480-6' },
            { system: 'http://hospital.example/mrn', code: 'MRN778899' },
            { system: 'http://hl7.org/fhir/sid/us-ssn', code: '123-45-6789' },
            { system: 'urn:oid:2.16.840.1.113883.4.1', code: '123-45-6789' },
            { code: 'no-system-778899' },
          ],
        },
        valueQuantity: { value: 3, system: 'http://hospital.example/units', code: 'ACCT-12345' },
      } as Observation,
      'p1',
    );
    expect(JSON.stringify(o)).not.toMatch(/jane-roe|778899|123-45|ACCT|hospital\.example/);
    expect(o.meta?.profile).toEqual(['http://hl7.org/fhir/us/core/StructureDefinition/us-core-vital-signs']);
    expect(o.code).toEqual({ coding: [{ system: 'http://loinc.org', code: '8480-6' }] });
    expect(o.valueQuantity).toEqual({ value: 3 });
    const study = deid.resource(
      { resourceType: 'ImagingStudy', id: 'i1', status: 'available', subject: { reference: 'Patient/p1' }, series: [{ uid: '1.2.840.99999.12345', modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' } }] } as never,
      'p1',
    ) as unknown as Record<string, any>;
    expect(JSON.stringify(study)).not.toContain('99999');
    expect(study.series[0]).toEqual({ _uid: MASKED, modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' } });
  });

  it('keeps an unknown modifierExtension as a masked marker, so the element still says its meaning is modified', () => {
    const c = deid.resource(
      { resourceType: 'Condition', id: 'c2', subject: { reference: 'Patient/p1' }, modifierExtension: [{ url: 'http://example.org/refuted-by-jane', valueString: 'Jane Roe says no' }] } as Condition,
      'p1',
    );
    expect(c.modifierExtension).toEqual([{ url: 'http://example.org/refuted-by-jane', ...MASKED }]);
    expect(JSON.stringify(c)).not.toContain('says no');
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

  it('keeps the decimal lexemes of the numbers it keeps (1.50 stays 1.50), in nested elements and arrays', () => {
    const text =
      '{"resourceType":"Observation","id":"o-dec","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},' +
      '"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":1.50,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"},' +
      '"referenceRange":[{"low":{"value":3.90},"high":{"value":123456789012345678.5}}],' +
      '"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120.0}}]}';
    const out = stringifyFhirJson(deid.resource(parseFhirJson(text) as Observation, 'p1'));
    expect(out).toContain('"value":1.50');
    expect(out).toContain('"value":3.90');
    expect(out).toContain('"value":123456789012345678.5');
    expect(out).toContain('"value":120.0');
    // A value the de-identification changes loses its lexeme with it (an age over 89, top-coded).
    const age = parseFhirJson('{"resourceType":"Condition","id":"c-age","subject":{"reference":"Patient/p1"},"onsetAge":{"value":95.0,"unit":"a","system":"http://unitsofmeasure.org","code":"a"}}');
    expect(stringifyFhirJson(deid.resource(age as Condition, 'p1'))).toContain('"value":90');
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

describe('ages over 89 (Safe Harbor: one category, 90 or older)', () => {
  const at = createDeidentifier(KEY, () => new Date('2026-11-28T12:00:00Z'));
  const born = (birthDate: string, deceasedDateTime?: string) => at.resource({ resourceType: 'Patient', id: 'old', birthDate, ...(deceasedDateTime ? { deceasedDateTime } : {}) } as Patient, 'old');

  it('masks the birthDate of a Patient who is, or could be, 90 or older, and keeps younger ones shifted', () => {
    expect(born('1936-11-28')).toMatchObject({ _birthDate: MASKED });
    expect(born('1936-11-28').birthDate).toBeUndefined();
    expect(born('1936-11-29').birthDate).toBe(shiftDate('1936-11-29', at.dayOffset('old'))); // 89 until tomorrow
    expect(born('1936').birthDate).toBeUndefined(); // a year alone could mean 1 January: 90
    expect(born('1937').birthDate).toBe(shiftDate('1937', at.dayOffset('old')));
    expect(born('1920-01-01', '2005-06-01').birthDate).toBe(shiftDate('1920-01-01', at.dayOffset('old'))); // died at 85
    expect(born('1900-01-01', '1995-06-01').birthDate).toBeUndefined(); // died at 95
  });

  it('top-codes Age values and age Observations over 89 years as >= 90, and leaves other units and younger ages', () => {
    const condition = at.resource({ resourceType: 'Condition', id: 'c', subject: { reference: 'Patient/old' }, onsetAge: { value: 93, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' } } as Condition, 'old');
    expect(condition.onsetAge).toEqual({ value: 90, comparator: '>=', unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' });
    const young = at.resource({ resourceType: 'Condition', id: 'c2', subject: { reference: 'Patient/old' }, onsetAge: { value: 89, system: 'http://unitsofmeasure.org', code: 'a' } } as Condition, 'old');
    expect(young.onsetAge).toEqual({ value: 89, system: 'http://unitsofmeasure.org', code: 'a' });
    const months = at.resource({ resourceType: 'Condition', id: 'c3', subject: { reference: 'Patient/old' }, onsetAge: { value: 120, system: 'http://unitsofmeasure.org', code: 'mo' } } as Condition, 'old');
    expect(months.onsetAge?.value).toBe(120);
    const obs = (code: string, value: number) =>
      at.resource({ resourceType: 'Observation', id: `o${code}`, status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, valueQuantity: { value, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' } } as Observation, 'old');
    expect(obs('30525-0', 97).valueQuantity).toMatchObject({ value: 90, comparator: '>=' });
    expect(obs('21612-7', 91).valueQuantity).toMatchObject({ value: 90, comparator: '>=' });
    expect(obs('8867-4', 97).valueQuantity).toMatchObject({ value: 97 }); // a heart rate of 97, not an age
  });
});

describe('isKnownNamespace', () => {
  it('knows terminologies and profiles, not identifier systems inside them nor anything else', () => {
    for (const u of ['http://loinc.org', 'http://snomed.info/sct', 'http://hl7.org/fhir/sid/cvx', 'urn:oid:2.16.840.1.113883.6.238', 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race']) {
      expect(isKnownNamespace(u)).toBe(true);
    }
    for (const u of ['http://hl7.org/fhir/sid/us-ssn', 'http://hl7.org/fhir/sid/us-npi', 'urn:oid:2.16.840.1.113883.4.1', 'mailto:jane@example.com', 'https://facebook.com/jane', 'https://bluebutton.cms.gov/resources/variables/clm_id', 'http://loinc.org.evil.example']) {
      expect(isKnownNamespace(u)).toBe(u === 'http://loinc.org.evil.example');
    }
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
