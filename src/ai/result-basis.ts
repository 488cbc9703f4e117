import type { Resource } from '@medplum/fhirtypes';

/**
 * The exact inputs of a result, as one key: the model version and the sorted versioned references
 * (`Type/id/_history/v`) of the resources its input was built from (`basis`, found among the
 * `loaded` resources). Two runs with the same key compute the same result, so only one is written
 * (triage: one result per model version and set of input versions). Pure.
 */
export function basisKey(modelId: string, basis: readonly string[], loaded: readonly Resource[]): string {
  const versions = new Map(loaded.map((r) => [`${r.resourceType}/${r.id}`, r.meta?.versionId]));
  const refs = [...new Set(basis)].map((ref) => {
    const v = versions.get(ref);
    return v ? `${ref}/_history/${v}` : ref;
  });
  return [modelId, ...refs.sort()].join(' ');
}
