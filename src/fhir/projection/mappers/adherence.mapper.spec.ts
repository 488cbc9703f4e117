import type { MedicationAdministration, MedicationStatement } from '@medplum/fhirtypes';
import { medicationAdministrationMapper, medicationStatementMapper } from './adherence.mapper';
import { fakeCtx, hl7Example } from '../../../../test/helpers/mapper-fixtures';

const ma = (status: MedicationAdministration['status']) => ({ ...hl7Example<MedicationAdministration>('MedicationAdministration-medadmin0301'), status });
const ms = (status: MedicationStatement['status']) => ({
  ...hl7Example<MedicationStatement>('MedicationStatement-example001'),
  status,
  basedOn: [{ reference: 'ServiceRequest/x' }, { reference: 'MedicationRequest/medrx002' }],
});

describe('adherence mappers', () => {
  it('projects a completed administration as a dose taken, not-done as missed, others not at all', () => {
    expect(medicationAdministrationMapper.toRows(ma('completed'), fakeCtx)).toEqual([
      { table: 'adherence_tracking', values: { patient_id: 'pat1', id: 'medadmin0301', prescription_id: 'medrx0318', taken: true, timestamp: '2015-01-15T13:30:00.000Z' } },
    ]);
    expect(medicationAdministrationMapper.toRows(ma('not-done'), fakeCtx)[0].values.taken).toBe(false);
    expect(medicationAdministrationMapper.toRows(ma('in-progress'), fakeCtx)).toEqual([]);
    expect(medicationAdministrationMapper.toRows({ ...ma('completed'), request: undefined }, fakeCtx)).toEqual([]);
  });

  it('projects a statement based on a prescription: active/completed taken, not-taken missed', () => {
    expect(medicationStatementMapper.toRows(ms('active'), fakeCtx)).toEqual([
      { table: 'adherence_tracking', values: { patient_id: 'pat1', id: 'example001', prescription_id: 'medrx002', taken: true, timestamp: '2015-01-23T00:00:00.000Z' } },
    ]);
    expect(medicationStatementMapper.toRows(ms('not-taken'), fakeCtx)[0].values.taken).toBe(false);
    expect(medicationStatementMapper.toRows(ms('intended'), fakeCtx)).toEqual([]);
    expect(medicationStatementMapper.toRows({ ...ms('active'), basedOn: undefined }, fakeCtx)).toEqual([]);
  });

  it('rebuilds the relational faces', () => {
    const row = { patient_id: 'pat1', id: 'a1', prescription_id: 'rx1', taken: false, timestamp: new Date('2015-01-15T13:30:00Z') };
    expect(medicationAdministrationMapper.toResource(row)).toMatchObject({ status: 'not-done', request: { reference: 'MedicationRequest/rx1' }, effectiveDateTime: '2015-01-15T13:30:00.000Z' });
    expect(medicationStatementMapper.toResource({ ...row, taken: true })).toMatchObject({ status: 'completed', basedOn: [{ reference: 'MedicationRequest/rx1' }] });
  });
});
