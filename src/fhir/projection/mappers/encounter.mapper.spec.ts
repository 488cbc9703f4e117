import type { Encounter } from '@medplum/fhirtypes';
import { encounterMapper } from './encounter.mapper';
import { describeSynthea, fakeCtx, hl7Example, localize, syntheaResources } from '../../../../test/helpers/mapper-fixtures';

const rowsOf = (e: Encounter) => encounterMapper.toRows(e, fakeCtx);

describe('encounterMapper', () => {
  it('projects the HL7 Encounter example onto encounters', () => {
    expect(rowsOf(hl7Example('Encounter-example'))).toEqual([
      {
        table: 'encounters',
        values: {
          patient_id: 'example',
          id: 'example',
          doctor_id: null,
          status: 'in-progress',
          class_code: 'IMP',
          type_text: null,
          period_start: null,
          period_end: null,
          locations: null,
        },
      },
    ]);
  });

  it('takes the first local Practitioner participant and the type display', () => {
    expect(rowsOf(hl7Example('Encounter-f001'))[0].values).toMatchObject({
      patient_id: 'f001',
      doctor_id: 'f002',
      class_code: 'AMB',
      type_text: 'Patient-initiated encounter',
    });
  });

  it('normalises period bounds to UTC instants, partial dates included', () => {
    expect(rowsOf(hl7Example('Encounter-home'))[0].values).toMatchObject({
      period_start: '2015-01-17T06:00:00.000Z',
      period_end: '2015-01-17T06:30:00.000Z',
    });
    expect(rowsOf(hl7Example('Encounter-f203'))[0].values).toMatchObject({
      period_start: '2013-03-11T00:00:00.000Z',
      period_end: '2013-03-20T00:00:00.000Z',
    });
  });

  it('gives no row when the subject is not a local Patient', () => {
    const e = hl7Example<Encounter>('Encounter-example');
    expect(rowsOf({ ...e, subject: { reference: 'Group/g1' } })).toEqual([]);
    expect(rowsOf({ ...e, subject: { reference: 'https://other.example/fhir/Patient/1' } })).toEqual([]);
    expect(rowsOf({ ...e, subject: undefined })).toEqual([]);
  });

  it('rebuilds the relational face, with Date or string timestamps', () => {
    const values = rowsOf(hl7Example('Encounter-home'))[0].values;
    const expected: Encounter = {
      resourceType: 'Encounter',
      id: 'home',
      status: 'finished',
      class: { code: 'HH' },
      subject: { reference: 'Patient/example' },
      participant: [{ individual: { reference: 'Practitioner/example' } }],
      period: { start: '2015-01-17T06:00:00.000Z', end: '2015-01-17T06:30:00.000Z' },
    };
    expect(encounterMapper.toResource(values)).toEqual(expected);
    expect(encounterMapper.toResource({ ...values, period_start: new Date('2015-01-17T06:00:00Z'), period_end: '2015-01-17 06:30:00+00' })).toEqual(expected);
  });
});

describeSynthea('encounterMapper on Synthea encounters', () => {
  const encounters = syntheaResources<Encounter>('Encounter');

  it('gives no row while the subject is a urn:uuid reference', () => {
    expect(encounters.length).toBeGreaterThan(400);
    for (const e of encounters) expect(rowsOf(e)).toEqual([]);
  });

  it('projects each encounter once its references are local', () => {
    for (const e of encounters) {
      const [row] = rowsOf(localize(e));
      expect(row.values).toMatchObject({ id: e.id, status: e.status, class_code: e.class.code, type_text: e.type![0].text });
      expect(Date.parse(row.values.period_start as string)).toBe(Date.parse(e.period!.start!));
    }
  });

  it('round-trips a smart encounter (local practitioner) and a data-pipes one (conditional practitioner)', () => {
    const smart = localize(encounters.find((e) => e.id === 'abbc5979-3aca-43fe-91a6-8065b7e4a90f')!);
    const values = rowsOf(smart)[0].values;
    expect(values).toMatchObject({ patient_id: '018f428e-34f6-4707-8009-5ad742f901e7', doctor_id: '6d705d81-8546-43b2-b336-31a282128f2d' });
    expect(encounterMapper.toResource(values)).toEqual({
      resourceType: 'Encounter',
      id: smart.id,
      status: 'finished',
      class: { code: 'AMB' },
      type: [{ text: 'Encounter for check up (procedure)' }],
      subject: smart.subject,
      participant: [{ individual: { reference: 'Practitioner/6d705d81-8546-43b2-b336-31a282128f2d' } }],
      period: { start: '1991-06-07T23:37:54.000Z', end: '1991-06-07T23:52:54.000Z' },
    });

    // `Practitioner?identifier=...` is resolved by the bundle processor, not by the mapper.
    const pipes = localize(encounters.find((e) => e.id === 'd171e621-6ec7-7f42-4944-4d5b07572f02')!);
    expect(rowsOf(pipes)[0].values).toMatchObject({ patient_id: '3d195286-ce77-f5b3-b64f-3eacfb9c273e', doctor_id: null });
  });
});
