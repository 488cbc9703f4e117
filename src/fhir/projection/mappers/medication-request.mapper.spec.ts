import type { MedicationRequest } from '@medplum/fhirtypes';
import { dosageText, medicationRequestMapper } from './medication-request.mapper';
import { describeSynthea, fakeCtx, hl7Example, localize, syntheaResources } from '../../../../test/helpers/mapper-fixtures';

const rowsOf = (mr: MedicationRequest) => medicationRequestMapper.toRows(mr, fakeCtx);
const valuesOf = (mr: MedicationRequest) => rowsOf(mr)[0].values;

describe('medicationRequestMapper', () => {
  it('projects an HL7 example with a contained Medication onto prescriptions', () => {
    expect(rowsOf(hl7Example('MedicationRequest-medrx0302'))).toEqual([
      {
        table: 'prescriptions',
        values: {
          patient_id: 'pat1',
          id: 'medrx0302',
          medication: 'Azithromycin 250mg capsule (product)',
          medication_code: '324252006',
          dosage: 'Two tablets at once',
          adherence_rate: null,
          inventory_id: null,
          status: 'active',
          doctor_id: 'f007',
          created_at: '2015-01-15T00:00:00.000Z',
        },
      },
    ]);
  });

  it('names the medication from a concept, or a reference display', () => {
    expect(valuesOf(hl7Example('MedicationRequest-medrx0308'))).toMatchObject({ medication: 'Vicodin 5/500 Oral Tablet', medication_code: '856907' });
    expect(valuesOf(hl7Example('MedicationRequest-medrx002'))).toMatchObject({ medication: 'prescribed medication', medication_code: null });
  });

  it('cuts a long dosage text to 100 characters', () => {
    const dosage = valuesOf(hl7Example('MedicationRequest-medrx0306')).dosage as string;
    expect(dosage).toHaveLength(100);
    expect(dosage.startsWith('6 mg PO daily for remission induction')).toBe(true);
  });

  it('renders a dosage without text from its dose, timing and as-needed', () => {
    expect(
      dosageText({ doseAndRate: [{ doseQuantity: { value: 2, unit: 'TAB' } }], timing: { repeat: { frequency: 3, period: 1, periodUnit: 'd' } }, asNeededBoolean: true }),
    ).toBe('2 TAB, 3 per d, as needed');
    expect(dosageText({ doseAndRate: [{ doseRange: { low: { value: 1 }, high: { value: 2, unit: 'TAB' } } }], timing: { repeat: { period: 4, periodUnit: 'h' } } })).toBe(
      '1-2 TAB, 1 per 4 h',
    );
    expect(dosageText({ timing: { code: { text: 'BID' } } })).toBe('BID');
    expect(dosageText({ sequence: 1 })).toBeUndefined();
  });

  it('gives no row when the subject is not a local Patient', () => {
    expect(rowsOf({ ...hl7Example<MedicationRequest>('MedicationRequest-medrx0302'), subject: { reference: 'Group/g' } })).toEqual([]);
  });

  it('rebuilds the relational face', () => {
    expect(medicationRequestMapper.toResource({ ...valuesOf(hl7Example('MedicationRequest-medrx0302')), created_at: new Date('2015-01-15T00:00:00Z') })).toEqual({
      resourceType: 'MedicationRequest',
      id: 'medrx0302',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ code: '324252006' }], text: 'Azithromycin 250mg capsule (product)' },
      subject: { reference: 'Patient/pat1' },
      authoredOn: '2015-01-15T00:00:00.000Z',
      requester: { reference: 'Practitioner/f007' },
      dosageInstruction: [{ text: 'Two tablets at once' }],
    });
  });
});

describeSynthea('medicationRequestMapper on Synthea prescriptions', () => {
  const requests = syntheaResources<MedicationRequest>('MedicationRequest');

  it('gives no row while the subject is a urn:uuid reference, and one row once it is local', () => {
    expect(requests.length).toBeGreaterThan(30);
    for (const mr of requests) {
      expect(rowsOf(mr)).toEqual([]);
      expect(valuesOf(localize(mr))).toMatchObject({ id: mr.id, status: mr.status, medication_code: mr.medicationCodeableConcept!.coding![0].code });
    }
  });

  it('round-trips an ibuprofen order taken as needed', () => {
    const mr = localize(requests.find((r) => r.id === '288b3dc6-1b86-4447-8826-8eb2de56b933')!);
    const values = valuesOf(mr);
    expect(values).toEqual({
      patient_id: '018f428e-34f6-4707-8009-5ad742f901e7',
      id: mr.id,
      medication: 'Ibuprofen 200 MG Oral Tablet',
      medication_code: '310965',
      dosage: 'as needed',
      adherence_rate: null,
      inventory_id: null,
      status: 'stopped',
      doctor_id: '6d705d81-8546-43b2-b336-31a282128f2d',
      created_at: '2017-03-21T23:37:54.000Z',
    });
    expect(medicationRequestMapper.toResource(values)).toEqual({
      resourceType: 'MedicationRequest',
      id: mr.id,
      status: 'stopped',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ code: '310965' }], text: 'Ibuprofen 200 MG Oral Tablet' },
      subject: mr.subject,
      authoredOn: '2017-03-21T23:37:54.000Z',
      requester: mr.requester,
      dosageInstruction: [{ text: 'as needed' }],
    });
  });
});
