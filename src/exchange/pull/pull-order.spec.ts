import type { CapabilityStatement } from '@medplum/fhirtypes';
import { orderForPull, searchableTypes } from './pull-order';

describe('orderForPull', () => {
  it('puts what others refer to first, then Encounter, then the rest alphabetically', () => {
    expect(orderForPull(['Observation', 'Goal', 'Encounter', 'Patient', 'AllergyIntolerance', 'Organization', 'PractitionerRole', 'Practitioner', 'Location'])).toEqual([
      'Organization',
      'Location',
      'Practitioner',
      'PractitionerRole',
      'Patient',
      'Encounter',
      'Observation',
      'AllergyIntolerance',
      'Goal',
    ]);
  });

  it('pulls Observations before the Conditions whose diagnosis AI reads them', () => {
    expect(orderForPull(['Condition', 'Observation', 'Patient'])).toEqual(['Patient', 'Observation', 'Condition']);
  });
  it('pulls Observations before the DiagnosticReports that list them, and drops duplicates', () => {
    expect(orderForPull(['DiagnosticReport', 'Observation', 'Observation'])).toEqual(['Observation', 'DiagnosticReport']);
  });
});

describe('searchableTypes', () => {
  it('lists the server resources with search-type, leaving out subscriptions, endpoints and audit events', () => {
    const cs = {
      resourceType: 'CapabilityStatement',
      rest: [
        {
          mode: 'server',
          resource: [
            { type: 'Patient', interaction: [{ code: 'read' }, { code: 'search-type' }] },
            { type: 'Binary', interaction: [{ code: 'read' }] },
            { type: 'Subscription', interaction: [{ code: 'search-type' }] },
            { type: 'Endpoint', interaction: [{ code: 'search-type' }] },
            { type: 'AuditEvent', interaction: [{ code: 'search-type' }] },
            { type: 'Observation', interaction: [{ code: 'search-type' }] },
          ],
        },
        { mode: 'client', resource: [{ type: 'Condition', interaction: [{ code: 'search-type' }] }] },
      ],
    } as unknown as CapabilityStatement;
    expect(searchableTypes(cs)).toEqual(['Patient', 'Observation']);
  });

  it('is empty for a statement without rest', () => {
    expect(searchableTypes({ resourceType: 'CapabilityStatement' } as CapabilityStatement)).toEqual([]);
  });
});
