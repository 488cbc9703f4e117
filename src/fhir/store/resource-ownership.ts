import { toTypedValue } from '@medplum/core';
import type { Reference, Resource } from '@medplum/fhirtypes';
import { patientCompartmentPaths } from '../definitions/fhir-definitions';

const LOCAL_PATIENT_REF = /^Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * The patient whose compartment a resource belongs to (the shard key), or undefined for resources
 * that belong to no patient (Practitioner, Organization, Medication...). A Patient owns itself;
 * other types are owned by the first local Patient reference along the compartment's search
 * parameters (patient and subject before performer, author...). Pure.
 */
export function owningPatientId(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') return resource.id;
  for (const atom of patientCompartmentPaths(resource.resourceType)) {
    const values = atom.eval({ variables: {} }, [toTypedValue(resource)]);
    for (const v of values) {
      const ref = (v.value as Reference | undefined)?.reference;
      const id = ref ? patientIdOf(ref) : undefined;
      if (id) return id;
    }
  }
  return undefined;
}

/** The id in a local `Patient/{id}` reference. */
export function patientIdOf(reference: string): string | undefined {
  return LOCAL_PATIENT_REF.exec(reference)?.[1];
}
