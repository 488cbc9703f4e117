import type { Practitioner } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { compact, conceptText, humanNameText, requireId, str, truncate } from './mapper-utils';

export const US_NPI_SYSTEM = 'http://hl7.org/fhir/sid/us-npi';

/** Practitioner → doctors. Specialty comes from the first qualification (PractitionerRole has no table). */
export const practitionerMapper: ResourceMapper<Practitioner> = {
  resourceType: 'Practitioner',
  tables: ['doctors'],

  toRows(practitioner: Practitioner): ProjectionRow[] {
    const npi = practitioner.identifier?.find((i) => i.system === US_NPI_SYSTEM && i.value)?.value;
    return [
      {
        table: 'doctors',
        values: {
          id: requireId(practitioner),
          name: truncate(humanNameText(practitioner.name), 255) ?? '',
          specialty: truncate(conceptText(practitioner.qualification?.[0]?.code), 255),
          npi: truncate(npi, 64),
        },
      },
    ];
  },

  toResource(row: Record<string, unknown>): Practitioner {
    const name = str(row.name);
    const npi = str(row.npi);
    const specialty = str(row.specialty);
    return compact<Practitioner>({
      resourceType: 'Practitioner',
      id: String(row.id),
      identifier: npi ? [{ system: US_NPI_SYSTEM, value: npi }] : undefined,
      name: name ? [{ text: name }] : undefined,
      qualification: specialty ? [{ code: { text: specialty } }] : undefined,
    });
  },
};
