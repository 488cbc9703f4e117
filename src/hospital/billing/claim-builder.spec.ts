import type { Condition, Encounter, Procedure } from '@medplum/fhirtypes';
import { buildClaimFromEncounter } from './claim-builder';

const encounter: Encounter = {
  resourceType: 'Encounter',
  id: 'e1',
  status: 'finished',
  class: { code: 'IMP' },
  subject: { reference: 'Patient/p1' },
  participant: [{ individual: { reference: 'Practitioner/d1' } }],
  period: { start: '2026-11-10T08:00:00Z', end: '2026-11-12T12:00:00Z' },
};
const procedure = (id: string, code: string, at?: string): Procedure => ({
  resourceType: 'Procedure',
  id,
  status: 'completed',
  subject: { reference: 'Patient/p1' },
  code: { coding: [{ system: 'http://snomed.info/sct', code }] },
  ...(at ? { performedDateTime: at } : {}),
});
const condition: Condition = { resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient/p1' } };
const now = new Date('2026-11-13T00:00:00Z');

describe('buildClaimFromEncounter', () => {
  it('charges each procedure at its price and date, with the conditions as diagnoses', () => {
    const claim = buildClaimFromEncounter({
      encounter,
      procedures: [procedure('p1', '80146002', '2026-11-10T10:00:00Z'), procedure('p2', '387713003')],
      conditions: [condition],
      unitPrices: { 'http://snomed.info/sct|80146002': 1200, '387713003': 300.5 },
      now,
    });
    expect(claim).toMatchObject({
      resourceType: 'Claim',
      status: 'active',
      use: 'claim',
      type: { coding: [{ code: 'institutional' }] },
      patient: { reference: 'Patient/p1' },
      provider: { reference: 'Practitioner/d1' },
      billablePeriod: encounter.period,
      created: now.toISOString(),
      diagnosis: [{ sequence: 1, diagnosisReference: { reference: 'Condition/c1' } }],
      procedure: [{ sequence: 1, procedureReference: { reference: 'Procedure/p1' } }, { sequence: 2, procedureReference: { reference: 'Procedure/p2' } }],
      insurance: [{ sequence: 1, focal: true, coverage: { display: 'Self-pay: no active Coverage on file' } }],
      item: [
        { sequence: 1, servicedDate: '2026-11-10', encounter: [{ reference: 'Encounter/e1' }], unitPrice: { value: 1200 }, net: { value: 1200 } },
        { sequence: 2, servicedDate: '2026-11-10', net: { value: 300.5 } },
      ],
      total: { value: 1500.5 },
    });
  });

  it('charges the encounter itself when it had no procedure, with no total when a price is unknown', () => {
    const claim = buildClaimFromEncounter({ encounter: { ...encounter, class: { code: 'AMB' } }, procedures: [], conditions: [], coverageId: 'cov1', unitPrices: {}, now });
    expect(claim).toMatchObject({ type: { coding: [{ code: 'professional' }] }, insurance: [{ coverage: { reference: 'Coverage/cov1' } }], item: [{ productOrService: { coding: [{ code: 'AMB' }] } }] });
    expect('total' in claim).toBe(false);
  });

  it('says why when there is no patient or no provider', () => {
    expect(buildClaimFromEncounter({ encounter: { ...encounter, subject: { reference: 'Group/g' } }, procedures: [], conditions: [], unitPrices: {}, now })).toEqual({ error: 'Encounter/e1 names no Patient to bill' });
    expect(buildClaimFromEncounter({ encounter: { ...encounter, participant: undefined }, procedures: [], conditions: [], unitPrices: {}, now })).toMatchObject({ error: expect.stringContaining('provider') });
  });
});
