import type { Medication } from '@medplum/fhirtypes';
import { REORDER_THRESHOLD_URL, STOCK_ON_HAND_URL, medicationMapper, needsReorder, withStock } from './medication.mapper';
import { fakeCtx, hl7Example } from '../../../../test/helpers/mapper-fixtures';

const stocked = (stock: number, threshold?: number): Medication => ({
  ...hl7Example<Medication>('Medication-med0307'),
  extension: [{ url: STOCK_ON_HAND_URL, valueInteger: stock }, ...(threshold !== undefined ? [{ url: REORDER_THRESHOLD_URL, valueInteger: threshold }] : [])],
});
const valuesOf = (m: Medication) => medicationMapper.toRows(m, fakeCtx)[0].values;

describe('medicationMapper', () => {
  it('projects an HL7 example batch onto inventory, unstocked when it has no stock extension', () => {
    expect(medicationMapper.toRows(hl7Example('Medication-med0307'), fakeCtx)).toEqual([
      {
        table: 'inventory',
        values: {
          id: 'med0307',
          medication: 'Novolog 100u/ml',
          medication_code: '0169-7501-11',
          lot_number: '12345',
          stock_level: null,
          reorder_threshold: null,
          expiry_date: '2019-10-31',
          reorder_alert: false,
        },
      },
    ]);
  });

  it('raises reorder_alert only strictly below the threshold', () => {
    expect(valuesOf(stocked(4, 5))).toMatchObject({ stock_level: 4, reorder_threshold: 5, reorder_alert: true });
    expect(valuesOf(stocked(5, 5))).toMatchObject({ reorder_alert: false });
    expect(valuesOf(stocked(0))).toMatchObject({ stock_level: 0, reorder_alert: false });
    expect(needsReorder(stocked(0, 1))).toBe(true);
  });

  it('keeps the calendar day of a dateTime expiry', () => {
    expect(valuesOf({ ...stocked(1), batch: { expirationDate: '2027-03-31T23:00:00-05:00' } }).expiry_date).toBe('2027-03-31');
  });

  it('sets the stock without touching other extensions', () => {
    const m = withStock(stocked(4, 5), 9);
    expect(m.extension).toEqual([
      { url: STOCK_ON_HAND_URL, valueInteger: 9 },
      { url: REORDER_THRESHOLD_URL, valueInteger: 5 },
    ]);
  });

  it('rebuilds the relational face', () => {
    expect(medicationMapper.toResource({ ...valuesOf(stocked(4, 5)), expiry_date: new Date(2019, 9, 31) })).toEqual({
      resourceType: 'Medication',
      id: 'med0307',
      extension: [
        { url: STOCK_ON_HAND_URL, valueInteger: 4 },
        { url: REORDER_THRESHOLD_URL, valueInteger: 5 },
      ],
      code: { coding: [{ code: '0169-7501-11' }], text: 'Novolog 100u/ml' },
      batch: { lotNumber: '12345', expirationDate: '2019-10-31' },
    });
  });
});
