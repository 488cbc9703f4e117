import { capitalize, tryGetDataType, type InternalSchemaElement } from '@medplum/core';
import { isResourceType } from './fhir-definitions';

/**
 * The elements of each R4 type by their JSON names, from the StructureDefinitions as indexed by
 * @medplum/core (loadFhirDefinitions first): which repeat, which are primitives, the types of
 * choice elements. Backbone elements are types of their own (`DocumentReferenceContent`).
 */

export type Kind = 'primitive' | 'complex' | 'resource' | 'xhtml';

export interface ElementInfo {
  /** The name in JSON and XML alike: `birthDate`, `valueQuantity` (a choice is one entry per type). */
  name: string;
  type: string;
  kind: Kind;
  isArray: boolean;
}

export interface TypeInfo {
  /** Elements in StructureDefinition order, the order XML requires. */
  ordered: ElementInfo[];
  byName: Map<string, ElementInfo>;
}

const R4_PRIMITIVES = new Set([
  'base64Binary', 'boolean', 'canonical', 'code', 'date', 'dateTime', 'decimal', 'id', 'instant', 'integer',
  'markdown', 'oid', 'positiveInt', 'string', 'time', 'unsignedInt', 'uri', 'url', 'uuid',
]);

const typeInfoCache = new Map<string, TypeInfo>();

/** The element table of a type (a resource, datatype or backbone element); undefined when R4 has none. */
export function tryTypeInfo(typeName: string): TypeInfo | undefined {
  let info = typeInfoCache.get(typeName);
  if (info) return info;
  const schema = tryGetDataType(typeName);
  if (!schema) return undefined;
  const ordered: ElementInfo[] = [];
  for (const [key, element] of Object.entries(schema.elements)) ordered.push(...expandElement(key, element));
  info = { ordered, byName: new Map(ordered.map((e) => [e.name, e])) };
  typeInfoCache.set(typeName, info);
  return info;
}

/** One entry per JSON name: `value[x]` becomes valueString, valueQuantity, ... */
function expandElement(key: string, element: InternalSchemaElement): ElementInfo[] {
  const isChoice = key.endsWith('[x]');
  return element.type.map((t) => {
    const type = normaliseTypeCode(t.code);
    return {
      name: isChoice ? key.slice(0, -3) + capitalize(type) : key,
      type,
      kind: kindOf(type),
      isArray: !isChoice && !!element.isArray,
    };
  });
}

/** Element.id and Extension.url are typed with FHIRPath system types in the R4 definitions. */
function normaliseTypeCode(code: string): string {
  if (!code.startsWith('http://hl7.org/fhirpath/System.')) return code;
  const system = code.slice('http://hl7.org/fhirpath/System.'.length);
  return ({ Boolean: 'boolean', Integer: 'integer', Decimal: 'decimal', Date: 'date', DateTime: 'dateTime', Time: 'time' } as Record<string, string>)[system] ?? 'string';
}

function kindOf(type: string): Kind {
  if (type === 'xhtml') return 'xhtml';
  // Bundle.entry.response.outcome is typed OperationOutcome in these definitions, Resource in R4's.
  if (type === 'Resource' || isResourceType(type)) return 'resource';
  return R4_PRIMITIVES.has(type) ? 'primitive' : 'complex';
}

