import type { Practitioner } from '@medplum/fhirtypes';
import { practitionerMapper, US_NPI_SYSTEM } from './practitioner.mapper';
import { describeSynthea, hl7Example, syntheaResources } from '../../../../test/helpers/mapper-fixtures';

const valuesOf = (p: Practitioner) => practitionerMapper.toRows(p, { blindIndex: () => Buffer.alloc(0) })[0].values;

describe('practitionerMapper', () => {
  it('projects the HL7 Practitioner example onto doctors', () => {
    expect(practitionerMapper.toRows(hl7Example('Practitioner-example'), { blindIndex: () => Buffer.alloc(0) })).toEqual([
      { table: 'doctors', values: { id: 'example', name: 'Adam Careful', specialty: 'Bachelor of Science', npi: null } },
    ]);
  });

  it('takes the specialty from a coding display, and the name from text when it has no parts', () => {
    expect(valuesOf(hl7Example('Practitioner-f201'))).toMatchObject({ name: 'Arend Bronsig', specialty: 'Pulmonologist' });
    expect(valuesOf(hl7Example('Practitioner-f203'))).toMatchObject({ name: 'Juri van Gelder', specialty: null });
  });

  it('rebuilds the relational face', () => {
    expect(practitionerMapper.toResource(valuesOf(hl7Example('Practitioner-example')))).toEqual({
      resourceType: 'Practitioner',
      id: 'example',
      name: [{ text: 'Adam Careful' }],
      qualification: [{ code: { text: 'Bachelor of Science' } }],
    });
  });
});

describeSynthea('practitionerMapper on Synthea practitioners', () => {
  const practitioners = syntheaResources<Practitioner>('Practitioner');

  it('keeps every NPI', () => {
    expect(practitioners.length).toBeGreaterThan(1000);
    for (const p of practitioners) {
      const npi = p.identifier!.find((i) => i.system === US_NPI_SYSTEM)!.value;
      expect(valuesOf(p)).toMatchObject({ id: p.id, npi, specialty: null });
    }
  });

  it('round-trips Dr. Rosette746 Bruen238', () => {
    const p = practitioners.find((x) => x.id === '52835c00-5134-31b5-b848-2532582d887b')!;
    const values = valuesOf(p);
    expect(values).toMatchObject({ name: 'Rosette746 Bruen238', npi: '9999999999' });
    expect(practitionerMapper.toResource(values)).toEqual({
      resourceType: 'Practitioner',
      id: p.id,
      identifier: [{ system: US_NPI_SYSTEM, value: '9999999999' }],
      name: [{ text: 'Rosette746 Bruen238' }],
    });
  });
});
