import type { Claim } from '@medplum/fhirtypes';
import { billingCheckExtension, billingCheckOf, claimMapper } from './claim.mapper';
import { fakeCtx, hl7Example } from '../../../../test/helpers/mapper-fixtures';

const example = () => hl7Example<Claim>('Claim-100150');
const check = { detected: true, rules: 'billing-error-rules 1.0.0', reasons: [{ code: 'no-encounter', detail: 'Item 1 is charged with no encounter', item: 1 }] };

describe('claimMapper', () => {
  it('projects an HL7 example claim onto billing (amount from its items when it has no total)', () => {
    expect(claimMapper.toRows(example(), fakeCtx)).toEqual([
      {
        table: 'billing',
        values: { patient_id: '1', id: '100150', amount: '135.57', status: 'active', ai_error_detected: false, ai_error_reasons: null, encounter_id: null, created_at: '2014-08-16T00:00:00.000Z' },
      },
    ]);
  });

  it("projects the check's flag and reasons, the total and the first item's encounter", () => {
    const claim: Claim = {
      ...example(),
      extension: [billingCheckExtension(check)],
      total: { value: 200 },
      item: [{ ...example().item![0], encounter: [{ reference: 'Encounter/e1' }] }],
    };
    expect(claimMapper.toRows(claim, fakeCtx)[0].values).toMatchObject({ amount: '200.00', ai_error_detected: true, ai_error_reasons: check.reasons, encounter_id: 'e1' });
    expect(billingCheckOf(claim)).toEqual(check);
  });

  it('gives no row without a local patient', () => {
    expect(claimMapper.toRows({ ...example(), patient: { reference: 'urn:uuid:x' } }, fakeCtx)).toEqual([]);
  });

  it('rebuilds the relational face with the verdict', () => {
    const values = claimMapper.toRows({ ...example(), extension: [billingCheckExtension(check)] }, fakeCtx)[0].values;
    const rebuilt = claimMapper.toResource(values);
    expect(rebuilt).toMatchObject({ resourceType: 'Claim', id: '100150', status: 'active', patient: { reference: 'Patient/1' }, total: { value: 135.57 } });
    expect(billingCheckOf(rebuilt)).toEqual({ detected: true, reasons: check.reasons });
  });
});
