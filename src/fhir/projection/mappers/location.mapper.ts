import type { Location } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { compact, localRef, localRefId, requireId, str, truncate } from './mapper-utils';

export const LOCATION_PHYSICAL_TYPE = 'http://terminology.hl7.org/CodeSystem/location-physical-type';

/** Whether the Location is a bed (physicalType `bd`). */
export function isBed(location: Location): boolean {
  return !!location.physicalType?.coding?.some((c) => c.code === 'bd' && (!c.system || c.system === LOCATION_PHYSICAL_TYPE));
}

/**
 * Location (physicalType bd) → beds: the bed's name as room_number and its ward (partOf).
 * `occupied` and `patient_id` come from Encounters (SQL in the scheduling/beds migration), and
 * `occupancy_prediction` from the beds forecast, so this mapper leaves them out (an upsert keeps them).
 */
export const locationMapper: ResourceMapper<Location> = {
  resourceType: 'Location',
  tables: ['beds'],

  toRows(location: Location): ProjectionRow[] {
    if (!isBed(location) || location.status === 'inactive') return [];
    return [
      {
        table: 'beds',
        values: {
          id: requireId(location),
          room_number: truncate(location.name ?? location.identifier?.[0]?.value, 50),
          ward_id: localRefId(location.partOf, 'Location') ?? null,
        },
      },
    ];
  },

  toResource(row: Record<string, unknown>): Location {
    return compact<Location>({
      resourceType: 'Location',
      id: String(row.id),
      name: str(row.room_number),
      physicalType: { coding: [{ system: LOCATION_PHYSICAL_TYPE, code: 'bd' }] },
      partOf: localRef<Location>('Location', row.ward_id),
    });
  },
};
