import { createHash } from 'node:crypto';
import type { Patient } from '@medplum/fhirtypes';
import { nationalIdentifier, patientMapper, US_SSN_SYSTEM } from './patient.mapper';
import { describeSynthea, fakeCtx, hl7Example, localize, syntheaResources } from '../../../../test/helpers/mapper-fixtures';

const sha256 = (v: string) => createHash('sha256').update(v).digest();
const rowsOf = (p: Patient) => patientMapper.toRows(p, fakeCtx);
const valuesOf = (p: Patient) => rowsOf(p)[0].values;

describe('patientMapper', () => {
  const example = hl7Example<Patient>('Patient-example');

  it('projects the HL7 Patient example onto patients', () => {
    const rows = rowsOf(example);
    expect(rows).toHaveLength(1); // an MRN is not a national id: no patient_national_ids row
    expect(rows[0]).toEqual({
      table: 'patients',
      values: {
        id: 'example',
        name: 'Peter James Chalmers',
        dob: '1974-12-25',
        contact_info: { telecom: example.telecom, address: example.address },
        national_id: null,
        national_id_system: null,
        national_id_hash: null,
      },
    });
  });

  it('keeps dob only for a full date', () => {
    expect(valuesOf({ ...example, birthDate: '1970' }).dob).toBeNull();
    expect(valuesOf({ ...example, birthDate: '1970-03' }).dob).toBeNull();
    expect(valuesOf({ ...example, birthDate: undefined }).dob).toBeNull();
    expect(valuesOf({ ...example, birthDate: '1970-03-09' }).dob).toBe('1970-03-09');
  });

  it('names a patient from text when no parts are given, and "" when nameless', () => {
    expect(valuesOf({ resourceType: 'Patient', id: 'a', name: [{ text: 'Juri van Gelder' }] }).name).toBe('Juri van Gelder');
    expect(valuesOf({ resourceType: 'Patient', id: 'a' }).name).toBe('');
    expect(valuesOf({ resourceType: 'Patient', id: 'a', name: [{ family: 'x'.repeat(300) }] }).name).toHaveLength(255);
  });

  it('has no contact_info when there is neither telecom nor address', () => {
    expect(valuesOf({ resourceType: 'Patient', id: 'a' }).contact_info).toBeNull();
  });

  it('finds a national id by system or by v2-0203 type SS/NI, and ignores old ones', () => {
    const ni = { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'NI' }] }, value: 'NI-77' };
    expect(nationalIdentifier({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: '1' }, ni] })).toBe(ni);
    expect(nationalIdentifier({ resourceType: 'Patient', identifier: [{ ...ni, use: 'old' }] })).toBeUndefined();
    expect(nationalIdentifier({ resourceType: 'Patient', identifier: [{ system: US_SSN_SYSTEM }] })).toBeUndefined();

    const rows = rowsOf({ resourceType: 'Patient', id: 'a', identifier: [ni] });
    expect(rows[0].values).toMatchObject({ national_id: 'NI-77', national_id_system: null, national_id_hash: sha256('|NI-77') });
    expect(rows[1]).toEqual({ table: 'patient_national_ids', values: { national_id_hash: sha256('|NI-77'), patient_id: 'a' } });
  });

  it('rebuilds the relational face (dates as Date or string)', () => {
    const back = patientMapper.toResource({ ...valuesOf(example), dob: new Date(1974, 11, 25) });
    expect(back).toEqual({
      resourceType: 'Patient',
      id: 'example',
      name: [{ text: 'Peter James Chalmers' }],
      birthDate: '1974-12-25',
      telecom: example.telecom,
      address: example.address,
    });
    expect(patientMapper.toResource({ id: 'a', name: '', dob: null, contact_info: null })).toEqual({ resourceType: 'Patient', id: 'a' });
  });
});

describeSynthea('patientMapper on Synthea patients', () => {
  const patients = syntheaResources<Patient>('Patient');

  it('finds and hashes every SSN', () => {
    expect(patients.length).toBeGreaterThan(20);
    for (const p of patients) {
      const ssn = p.identifier!.find((i) => i.system === US_SSN_SYSTEM)!.value!;
      const [row, index] = rowsOf(localize(p));
      expect(row.values).toMatchObject({ id: p.id, national_id: ssn, national_id_system: US_SSN_SYSTEM });
      expect(row.values.national_id_hash).toEqual(sha256(`${US_SSN_SYSTEM}|${ssn}`));
      expect(index).toEqual({ table: 'patient_national_ids', values: { national_id_hash: sha256(`${US_SSN_SYSTEM}|${ssn}`), patient_id: p.id } });
    }
  });

  it('projects Assunta351 Dickens475 and round-trips her', () => {
    const p = patients.find((x) => x.id === '3d195286-ce77-f5b3-b64f-3eacfb9c273e')!;
    const values = valuesOf(p);
    expect(values).toMatchObject({ name: 'Assunta351 Dickens475', dob: '1993-05-02', national_id: '999-35-4067' });
    expect(patientMapper.toResource(values)).toEqual({
      resourceType: 'Patient',
      id: p.id,
      identifier: [{ system: US_SSN_SYSTEM, value: '999-35-4067' }],
      name: [{ text: 'Assunta351 Dickens475' }],
      telecom: p.telecom,
      birthDate: '1993-05-02',
      address: p.address,
    });
  });
});
