import type { Condition } from '@medplum/fhirtypes';
import { AI_CONFIDENCE_EXTENSION_URL, conditionMapper } from './condition.mapper';
import { describeSynthea, fakeCtx, hl7Example, localize, syntheaResources } from '../../../../test/helpers/mapper-fixtures';

const rowsOf = (c: Condition) => conditionMapper.toRows(c, fakeCtx);
const valuesOf = (c: Condition) => rowsOf(c)[0].values;
const withConfidence = (c: Condition, value: number): Condition => ({
  ...c,
  extension: [{ url: AI_CONFIDENCE_EXTENSION_URL, valueDecimal: value }],
});

describe('conditionMapper', () => {
  const example = hl7Example<Condition>('Condition-example');

  it('projects the HL7 Condition example onto diagnoses', () => {
    expect(rowsOf(example)).toEqual([
      {
        table: 'diagnoses',
        values: {
          patient_id: 'example',
          id: 'example',
          doctor_id: null,
          ai_supported: false,
          confidence_score: null,
          ai_model_id: null,
          diagnosis_text: 'Burnt Ear',
          code_system: 'http://snomed.info/sct',
          code: '39065001',
          created_at: '2012-05-24T00:00:00.000Z',
        },
      },
    ]);
  });

  it('takes the asserter as doctor and the recorded date before the onset', () => {
    expect(valuesOf(hl7Example('Condition-f201'))).toMatchObject({
      patient_id: 'f201',
      doctor_id: 'f201',
      diagnosis_text: 'Fever',
      created_at: '2013-04-04T00:00:00.000Z',
    });
    const recorderOnly = { ...hl7Example<Condition>('Condition-f201'), asserter: { reference: 'Patient/f201' }, recorder: { reference: 'Practitioner/f202' } };
    expect(valuesOf(recorderOnly).doctor_id).toBe('f202');
  });

  it('marks AI support from the ai-confidence extension, rounded to 2 decimals', () => {
    expect(valuesOf(withConfidence(example, 0.8712))).toMatchObject({ ai_supported: true, confidence_score: 0.87 });
    expect(valuesOf(withConfidence(example, 87))).toMatchObject({ ai_supported: true, confidence_score: null }); // not a probability
  });

  it('gives no row for a voided Condition or a subject that is not a local Patient', () => {
    expect(rowsOf({ ...example, verificationStatus: { coding: [{ code: 'entered-in-error' }] } })).toEqual([]);
    expect(rowsOf({ ...example, subject: { reference: 'urn:uuid:64f567c7-c0cb-e671-2971-ebe2756f667f' } })).toEqual([]);
  });

  it('rebuilds the relational face (decimals come back as strings)', () => {
    const values = valuesOf(withConfidence(hl7Example('Condition-f201'), 0.87));
    expect(conditionMapper.toResource({ ...values, confidence_score: '0.87', created_at: new Date('2013-04-04T00:00:00Z') })).toEqual({
      resourceType: 'Condition',
      id: 'f201',
      extension: [{ url: AI_CONFIDENCE_EXTENSION_URL, valueDecimal: 0.87 }],
      code: { coding: [{ system: 'http://snomed.info/sct', code: '386661006' }], text: 'Fever' },
      subject: { reference: 'Patient/f201' },
      recordedDate: '2013-04-04T00:00:00.000Z',
      asserter: { reference: 'Practitioner/f201' },
    });
  });
});

describeSynthea('conditionMapper on Synthea conditions', () => {
  const conditions = syntheaResources<Condition>('Condition');

  it('gives no row while the subject is a urn:uuid reference, and one row once it is local', () => {
    expect(conditions.length).toBeGreaterThan(50);
    for (const c of conditions) {
      expect(rowsOf(c)).toEqual([]);
      const values = valuesOf(localize(c));
      expect(values).toMatchObject({ id: c.id, ai_supported: false, code: c.code!.coding![0].code, diagnosis_text: c.code!.text });
      expect(conditionMapper.toResource(values)).toMatchObject({ id: c.id, subject: localize(c).subject, code: { text: c.code!.text } });
    }
  });

  it('round-trips a Synthea diagnosis that an AI model supported', () => {
    const c = localize(conditions.find((x) => x.id === '64f567c7-c0cb-e671-2971-ebe2756f667f')!);
    const values = valuesOf(withConfidence(c, 0.87));
    expect(values).toEqual({
      patient_id: '3d195286-ce77-f5b3-b64f-3eacfb9c273e',
      id: c.id,
      doctor_id: null,
      ai_supported: true,
      confidence_score: 0.87,
      ai_model_id: null,
      diagnosis_text: 'Tuberculosis',
      code_system: 'http://snomed.info/sct',
      code: c.code!.coding![0].code,
      created_at: '2017-02-17T16:52:12.000Z',
    });
    expect(conditionMapper.toResource(values)).toEqual({
      resourceType: 'Condition',
      id: c.id,
      extension: [{ url: AI_CONFIDENCE_EXTENSION_URL, valueDecimal: 0.87 }],
      code: { coding: [{ system: 'http://snomed.info/sct', code: c.code!.coding![0].code }], text: 'Tuberculosis' },
      subject: c.subject,
      recordedDate: '2017-02-17T16:52:12.000Z',
    });
  });
});
