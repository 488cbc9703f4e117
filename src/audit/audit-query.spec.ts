import { isKnownKey, isSecretKey, patientsOfQuery, redactQuery } from './audit-query';

const SSN = 'http://hl7.org/fhir/sid/us-ssn';

describe('redactQuery', () => {
  it("redacts the values of an encrypted type's secret parameters, keeping a token's system and the rest of the query", () => {
    const q = `identifier=${encodeURIComponent(`${SSN}|999-35-5867`)}&name=Roe&_count=10`;
    expect(redactQuery(q, ['Patient'])).toBe(`identifier=${encodeURIComponent(`${SSN}|`)}***&name=Roe&_count=10`);
    expect(redactQuery(`identifier=${SSN}|999-35-5867`, ['Patient'])).not.toContain('999-35');
    const out = redactQuery('phone=555-111-2222&address=12%20Elm%20Street&email=jane%40example.com&address-postalcode=02101,02102&gender=female', ['Patient']);
    expect(out).toBe('phone=***&address=***&email=***&address-postalcode=***,***&gender=female');
    expect(redactQuery('telecom:exact=555-111-2222&identifier:not=x|1', ['Patient'])).toBe('telecom:exact=***&identifier:not=***');
    expect(redactQuery('telecom:missing=true', ['Patient'])).toBe('telecom:missing=true');
    // Names are trimmed as the search trims them: `telecom%20` searches telecom.
    expect(redactQuery('telecom%20=555-0100&%20identifier=x|123-45-6789&subject:Patient.phone+=5', ['Patient'])).toBe('telecom%20=***&%20identifier=***&subject:Patient.phone+=***');
  });

  it('follows chains, type modifiers, reverse chains and logical references', () => {
    expect(redactQuery('subject.identifier=123-45-6789&code=8480-6', ['Observation'])).toBe('subject.identifier=***&code=8480-6');
    expect(redactQuery('subject:Patient.phone=555', ['Observation'])).toBe('subject:Patient.phone=***');
    expect(redactQuery('patient.address-city=Springfield', ['Observation'])).toBe('patient.address-city=***');
    expect(redactQuery('subject:identifier=1234', ['Observation'])).toBe('subject:identifier=***');
    expect(redactQuery('_has:Observation:patient:code=8480-6', ['Patient'])).toBe('_has:Observation:patient:code=8480-6');
    expect(redactQuery('_has:Observation:subject:subject:Patient.identifier=1', ['Group'])).toBe('_has:Observation:subject:subject:Patient.identifier=***');
    expect(isSecretKey('_has:RelatedPerson:patient:telecom', ['Patient'])).toBe(true);
    // Not secret: types that are not encrypted (a practitioner's NPI is public), names, codes.
    expect(redactQuery('identifier=1234567893', ['Practitioner'])).toBe('identifier=1234567893');
    expect(redactQuery('general-practitioner.identifier=1', ['Patient'])).toBe('general-practitioner.identifier=1');
  });

  it('at system level, applies to the _type named or to every encrypted type', () => {
    expect(redactQuery('_type=Patient,Observation&identifier=abc', undefined)).toBe('_type=Patient,Observation&identifier=***');
    expect(redactQuery('_type=Observation&identifier=abc', undefined)).toBe('_type=Observation&identifier=abc');
    expect(redactQuery('phone=555', undefined)).toBe('phone=***');
    expect(redactQuery('_count=5', undefined)).toBe('_count=5');
  });

  it('redacts the value of a key it cannot decode', () => {
    expect(redactQuery('%E0%A4%A=secret&gender=male', ['Patient'])).toBe('%E0%A4%A=***&gender=male');
  });

  it('masks the values of parameters it does not recognise, whatever their case or form, and keeps known safe ones', () => {
    // Search parameter codes are case-sensitive: IDENTIFIER is not identifier, and is answered "Ignored".
    expect(redactQuery('IDENTIFIER=999-22-1962', ['Patient'])).toBe('IDENTIFIER=***');
    expect(redactQuery('Identifier=999-22-1962&ssn=999-22-1962&birthdate=1962-01-01', ['Patient'])).toBe('Identifier=***&ssn=***&birthdate=1962-01-01');
    expect(redactQuery('foo=x%7C999-22-1962', ['Observation'])).toBe('foo=***');
    // Unknown modifiers, unknown links of a chain or of a _has, unknown types in a _has.
    expect(redactQuery('name:EXACT=Roe&subject.SSN=1&_has:Observation:patient:NOTE=2&_has:Nope:patient:code=3&_has:Observation:code:code=4', ['Patient'])).toBe(
      'name:EXACT=***&subject.SSN=***&_has:Observation:patient:NOTE=***&_has:Nope:patient:code=***&_has:Observation:code:code=***',
    );
    expect(redactQuery('_count=10&_sort=-date&_include=Observation:patient&_include:iterate=Patient:general-practitioner&_summary=count&_elements=code&_total=accurate&_format=json', ['Observation'])).toBe(
      '_count=10&_sort=-date&_include=Observation:patient&_include:iterate=Patient:general-practitioner&_summary=count&_elements=code&_total=accurate&_format=json',
    );
    expect(redactQuery('_count:exact=5', ['Observation'])).toBe('_count:exact=***');
    // History and $everything keep their own parameters.
    expect(redactQuery('_since=2024-01-01T00:00:00Z&_at=2024&start=2024-01-01&end=2024-02-01', undefined)).toBe('_since=2024-01-01T00:00:00Z&_at=2024&start=2024-01-01&end=2024-02-01');
    // At system level: the _type's parameters, or without _type only those every type has.
    expect(redactQuery('_type=Observation&code=8480-6&_lastUpdated=ge2024', undefined)).toBe('_type=Observation&code=8480-6&_lastUpdated=ge2024');
    expect(redactQuery('code=8480-6&_id=x&_tag=a%7Cb', undefined)).toBe('code=***&_id=x&_tag=a%7Cb');
  });
});

describe('isKnownKey', () => {
  it('knows search parameters, chains through reference parameters, _has and modifiers', () => {
    expect(isKnownKey('subject:Patient.name', ['Observation'])).toBe(true);
    expect(isKnownKey('subject.name:exact', ['Observation'])).toBe(true);
    expect(isKnownKey('_has:Observation:patient:_has:Encounter:subject:status', ['Patient'])).toBe(false); // Encounter.subject does not point at Observations
    expect(isKnownKey('_has:Observation:patient:code:text', ['Patient'])).toBe(true);
    expect(isKnownKey('code.name', ['Observation'])).toBe(false); // code is no reference: no chain
    expect(isKnownKey('gender', ['Observation'])).toBe(false);
  });
});

describe('patientsOfQuery', () => {
  it('names the Patients a search is confined to', () => {
    expect(patientsOfQuery('patient=Patient/P1&code=x', ['Observation'])).toEqual(['Patient/P1']);
    expect(patientsOfQuery('patient=P1,Patient/P2', ['Observation'])).toEqual(['Patient/P1', 'Patient/P2']);
    expect(patientsOfQuery(`subject=${encodeURIComponent('http://x/fhir/Patient/P3')}`, ['Observation'])).toEqual(['Patient/P3']);
    expect(patientsOfQuery('subject:Patient=P4', ['Observation'])).toEqual(['Patient/P4']);
    expect(patientsOfQuery('_id=P5', ['Patient'])).toEqual(['Patient/P5']);
    expect(patientsOfQuery('subject=Group/G1', ['Observation'])).toEqual([]);
    expect(patientsOfQuery('subject=G1', ['Observation'])).toEqual([]); // a bare id may be a Group's
    expect(patientsOfQuery('_id=O1', ['Observation'])).toEqual([]);
    expect(patientsOfQuery('patient.identifier=x', ['Observation'])).toEqual([]);
    expect(patientsOfQuery(Array.from({ length: 30 }, (_, i) => `patient=p${i}`).join('&'), ['Observation'])).toHaveLength(20);
  });
});
