import { fhirResourceTypes, isResourceType } from '../fhir/definitions/fhir-definitions';
import { FHIR_ID } from '../fhir/definitions/resource-validator';
import { searchParam } from '../fhir/search/search-parameters';
import { isSecretParam } from '../fhir/search/search-secrets';
import { ENCRYPTED_RESOURCE_TYPES, isEncryptedType } from '../fhir/store/sensitivity';

/** What stands for a secret value in a recorded query (a token's system is kept: which kind of identifier was looked up). */
export const REDACTED = '***';

/** At most this many patients are named on one AuditEvent (a search may list many ids). */
const MAX_PATIENTS = 20;

const PATIENT_REF = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]*)?$/;

/**
 * Parameters that are not search parameters yet known to carry nothing about a person: result
 * and paging controls, history's `_since`/`_at`, `$everything`'s `start`/`end`, `$export`'s
 * format and de-identification switch. (`_include:iterate` and the like: their modifier is checked too.)
 */
const SAFE_CONTROLS = new Set(['_count', '_sort', '_cursor', '_total', '_summary', '_elements', '_include', '_revinclude', '_type', '_format', '_pretty', '_since', '_at', 'start', 'end', '_outputFormat', 'deidentify']);

/** The R4 search modifiers (and `iterate` of `_include`); a resource type is a modifier too (`subject:Patient`). */
const MODIFIERS = new Set(['missing', 'exact', 'contains', 'text', 'not', 'above', 'below', 'in', 'not-in', 'of-type', 'identifier', 'iterate']);

/**
 * The query of a search (or conditional interaction) as recorded in an AuditEvent: the values of
 * the parameters that are secret for the searched type(s) (contact details and national
 * identifiers, which the store encrypts and indexes by keyed hash only; a reference's
 * `:identifier`), chained, reverse-chained (`_has`) and modified forms included, become `***`,
 * and so do the values of every parameter not known to be safe (one the server does not
 * recognise for the type, `IDENTIFIER` or `foo`, may hold anything: mask by default); the rest
 * stays as sent, for accountability. `types`: the searched types (undefined: system level without
 * `_type`, so every type). Pure.
 */
export function redactQuery(query: string, types: readonly string[] | undefined): string {
  if (!query) return query;
  const searched = types?.length ? types : systemTypes(query);
  let changed = false;
  const parts = query.split('&').map((part) => {
    const eq = part.indexOf('=');
    if (eq < 0) return part;
    // Trimmed as the search trims it (`telecom%20=...` searches telecom).
    const key = decode(part.slice(0, eq))?.trim();
    // A key that does not decode cannot be understood: its value is not kept.
    if (key === undefined || !isKnownKey(key, types?.length ? types : namedTypes(query)) || isSecretKey(key, searched)) {
      changed = true;
      return `${part.slice(0, eq + 1)}${redactValue(part.slice(eq + 1))}`;
    }
    return part;
  });
  return changed ? parts.join('&') : query;
}

/** Whether a search key (`code`, `code:modifier`, `a.b.c` chains, `_has:T:ref:key`) reaches a secret parameter of `types`. */
export function isSecretKey(key: string, types: readonly string[]): boolean {
  if (key.startsWith('_has:')) {
    const [, type, , ...rest] = key.split(':');
    return !!type && rest.length > 0 && isSecretKey(rest.join(':'), [type]);
  }
  const dot = key.indexOf('.');
  const head = dot < 0 ? key : key.slice(0, dot);
  const colon = head.indexOf(':');
  const code = colon < 0 ? head : head.slice(0, colon);
  const modifier = colon < 0 ? undefined : head.slice(colon + 1);
  if (modifier === 'identifier') return true; // a logical reference: the identifier of a person
  if (dot >= 0) {
    // A chain: the rest applies to the types the reference may point to (or the one its modifier names).
    const targets = modifier && isResourceType(modifier) ? [modifier] : [...new Set(types.flatMap((t) => searchParam(t, code)?.targets ?? []))];
    return targets.length > 0 && isSecretKey(key.slice(dot + 1), targets);
  }
  if (modifier === 'missing') return false; // true or false, nothing more
  return types.some((t) => isEncryptedType(t) && isSecretParam(t, code));
}

/**
 * Whether a key is one the server recognises for `types` (undefined: every type): a safe control,
 * or a search parameter of one of them (with a known modifier), each link of a chain and of a
 * `_has` known in turn. Anything else is unknown and its value is not recorded.
 */
export function isKnownKey(key: string, types: readonly string[] | undefined): boolean {
  if (key.startsWith('_has:')) {
    const [, type, ref, ...rest] = key.split(':');
    const def = isResourceType(type) ? searchParam(type, ref) : undefined;
    // The reference must be able to point at the searched type(s).
    const pointsHere = !!def && def.type === 'reference' && (!types || def.targets.some((t) => types.includes(t)));
    return pointsHere && rest.length > 0 && isKnownKey(rest.join(':'), [type]);
  }
  const dot = key.indexOf('.');
  const head = dot < 0 ? key : key.slice(0, dot);
  const colon = head.indexOf(':');
  const code = colon < 0 ? head : head.slice(0, colon);
  const modifier = colon < 0 ? undefined : head.slice(colon + 1);
  if (modifier !== undefined && !MODIFIERS.has(modifier) && !isResourceType(modifier)) return false;
  if (dot < 0 && SAFE_CONTROLS.has(code)) return modifier === undefined || ((code === '_include' || code === '_revinclude') && modifier === 'iterate');
  const defs = (types ?? [...fhirResourceTypes()]).map((t) => searchParam(t, code));
  // At system level without _type, only the parameters every type has (_id, _lastUpdated...).
  const known = types ? defs.filter((d) => d !== undefined) : defs.every((d) => d !== undefined) ? defs : [];
  if (!known.length) return false;
  if (dot < 0) return true;
  const targets = modifier && isResourceType(modifier) ? [modifier] : [...new Set(known.flatMap((d) => d?.targets ?? []))];
  return known.some((d) => d?.type === 'reference') && targets.length > 0 && isKnownKey(key.slice(dot + 1), targets);
}

/**
 * The Patients a search is confined to, as `Patient/id`: those named by `patient` or `subject`
 * (`Patient/X`, or a bare id where the parameter or its modifier can only mean a Patient), or by
 * `_id` on a Patient search; none when it names none. At most 20. Pure.
 */
export function patientsOfQuery(query: string, types: readonly string[] | undefined): string[] {
  const found = new Set<string>();
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = decode(part.slice(0, eq));
    const value = decode(part.slice(eq + 1));
    if (key === undefined || value === undefined) continue;
    const [code, modifier] = key.split(':');
    const bareIsPatient = (code === 'patient' && (modifier === undefined || modifier === 'Patient')) || (code === 'subject' && modifier === 'Patient') || (code === '_id' && types?.length === 1 && types[0] === 'Patient');
    if (!['patient', 'subject', '_id'].includes(code) || (modifier !== undefined && modifier !== 'Patient')) continue;
    for (const v of value.split(',')) {
      const id = PATIENT_REF.exec(v)?.[1] ?? (bareIsPatient && FHIR_ID.test(v) ? v : undefined);
      if (id) found.add(`Patient/${id}`);
      if (found.size >= MAX_PATIENTS) return [...found];
    }
  }
  return [...found];
}

/** The `_type` of a system-level search, or every type that holds secrets. */
function systemTypes(query: string): readonly string[] {
  return namedTypes(query) ?? [...ENCRYPTED_RESOURCE_TYPES];
}

/** The types a system-level query names in `_type`, or undefined (every type). */
function namedTypes(query: string): readonly string[] | undefined {
  const named = query
    .split('&')
    .filter((p) => p.startsWith('_type='))
    .flatMap((p) => (decode(p.slice(6)) ?? '').split(','))
    .map((t) => t.trim())
    .filter(isResourceType);
  return named.length ? named : undefined;
}

/** Each comma-separated value becomes `***`, keeping a token's `system|`. */
function redactValue(raw: string): string {
  const value = decode(raw);
  if (value === undefined) return REDACTED;
  return value
    .split(',')
    .map((v) => {
      const bar = v.lastIndexOf('|');
      return bar > 0 && /^[a-z][a-z0-9+.-]*:/i.test(v) ? `${encodeURIComponent(v.slice(0, bar + 1))}${REDACTED}` : REDACTED;
    })
    .join(',');
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
