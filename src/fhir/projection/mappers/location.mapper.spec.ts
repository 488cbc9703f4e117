import type { Location } from '@medplum/fhirtypes';
import { isBed, locationMapper } from './location.mapper';
import { fakeCtx } from '../../../../test/helpers/mapper-fixtures';

const bed: Location = {
  resourceType: 'Location',
  id: 'b1',
  name: 'Bed 4-2',
  status: 'active',
  physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'bd' }] },
  partOf: { reference: 'Location/ward4' },
};

describe('locationMapper', () => {
  it('projects a bed onto beds with its name and ward, leaving occupancy to the encounters', () => {
    expect(locationMapper.toRows(bed, fakeCtx)).toEqual([{ table: 'beds', values: { id: 'b1', room_number: 'Bed 4-2', ward_id: 'ward4' } }]);
  });

  it('gives no row for other Locations or an inactive bed', () => {
    expect(locationMapper.toRows({ ...bed, physicalType: { coding: [{ code: 'ro' }] } }, fakeCtx)).toEqual([]);
    expect(locationMapper.toRows({ ...bed, physicalType: { coding: [{ system: 'http://other', code: 'bd' }] } }, fakeCtx)).toEqual([]);
    expect(locationMapper.toRows({ ...bed, status: 'inactive' }, fakeCtx)).toEqual([]);
    expect(isBed({ resourceType: 'Location' })).toBe(false);
  });

  it('rebuilds the relational face', () => {
    expect(locationMapper.toResource({ id: 'b1', room_number: 'Bed 4-2', ward_id: 'ward4', occupied: true })).toEqual({
      resourceType: 'Location',
      id: 'b1',
      name: 'Bed 4-2',
      physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'bd' }] },
      partOf: { reference: 'Location/ward4' },
    });
  });
});
