import { createHmac } from 'node:crypto';
import { capitalize, tryGetDataType } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { isResourceType, loadFhirDefinitions } from '../definitions/fhir-definitions';

/**
 * De-identification of resources for data scientists' exports, after HIPAA Safe Harbor
 * (45 CFR 164.514(b)(2)), as pure functions keyed by a secret:
 *
 * - Direct identifiers are removed wherever their data type appears: HumanName, ContactPoint
 *   (telecom), Identifier, Signature; Address keeps only use, type, state, country and period;
 *   Attachment keeps only contentType, language, size and creation (no data, url, title);
 *   Patient.contact (relatives) and the photo of people are removed.
 * - Free text that may hold identifiers is removed: the narrative, Annotations (notes), every
 *   `markdown`, base64 and xhtml value, references' display and identifier, and every `string`
 *   except the few that carry codes' meaning (Coding.display, CodeableConcept.text, units,
 *   Dosage.text, linkIds, SampledData.data). What is not known from the R4 definitions is dropped.
 * - Every date, dateTime and instant (birthDate, deceased, periods, meta.lastUpdated...) is shifted
 *   by a whole number of days derived from the owning patient (HMAC), between 30 and 365 days
 *   either way, so intervals within a patient (ages at events included) are kept exactly.
 * - Every resource id, and every reference to one, becomes a pseudonym: the HMAC of `Type/id`,
 *   the same in every export made with the same key, so exports can be joined.
 * Codes, quantities, booleans and other values are kept.
 */
export interface Deidentifier {
  /** The stable pseudonym of a resource id. */
  pseudonym(resourceType: string, id: string): string;
  /** The day offset of a patient's dates (or, for resources of no patient, of `Type/id`). */
  dayOffset(ownerKey: string): number;
  /** A de-identified copy; `patientId` is the compartment owner whose offset shifts the dates. */
  resource<T extends Resource>(resource: T, patientId: string | null): T;
}

const DAY_MS = 86_400_000;
export const MIN_SHIFT_DAYS = 30;
export const MAX_SHIFT_DAYS = 365;

/** Data types removed wherever they appear. */
const DROPPED_TYPES = new Set(['HumanName', 'ContactPoint', 'Identifier', 'Narrative', 'Annotation', 'Signature', 'xhtml', 'base64Binary', 'markdown']);

/** Elements removed whatever their type (`Type.element`). */
const DROPPED_ELEMENTS = new Set([
  'Patient.contact',
  'Patient.photo',
  'Practitioner.photo',
  'RelatedPerson.photo',
  'Person.photo',
  'Meta.source',
  // Inside Bundles: URLs carry real ids.
  'BundleEntry.fullUrl',
  'BundleEntryRequest.url',
  'BundleEntryResponse.location',
  'BundleLink.url',
]);

/** Types of which only these elements survive. */
const KEPT_ONLY: Record<string, Set<string>> = {
  Address: new Set(['id', 'extension', 'use', 'type', 'state', 'country', 'period']),
  Attachment: new Set(['id', 'extension', 'contentType', 'language', 'size', 'creation']),
  Reference: new Set(['id', 'extension', 'reference', 'type']),
};

/** The `string` elements kept: they name what codes mean, not who the patient is. */
const KEPT_STRINGS = new Set([
  'Coding.display',
  'Coding.version',
  'CodeableConcept.text',
  'Address.state',
  'Address.country',
  'Dosage.text',
  'SampledData.data',
  'QuestionnaireResponseItem.linkId',
  'QuestionnaireItem.linkId',
  ...['Quantity', 'SimpleQuantity', 'Age', 'Count', 'Distance', 'Duration', 'MoneyQuantity'].map((t) => `${t}.unit`),
]);

const DATE_TYPES = new Set(['date', 'dateTime', 'instant']);
const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(T.+)?)?)?$/;
const REFERENCE_RE = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const URN_UUID_RE = /^urn:uuid:([0-9a-fA-F-]{36})$/;

export function createDeidentifier(key: Buffer): Deidentifier {
  if (key.length < 32) throw new Error('The de-identification key must have at least 32 bytes');
  loadFhirDefinitions();
  const hmac = (label: string, value: string) => createHmac('sha256', key).update(`${label}\u0000${value}`, 'utf8').digest();
  const pseudonyms = new Map<string, string>();

  const pseudonym = (resourceType: string, id: string): string => {
    const k = `${resourceType}/${id}`;
    let p = pseudonyms.get(k);
    if (!p) {
      p = hmac('id', k).subarray(0, 16).toString('hex');
      if (pseudonyms.size > 100_000) pseudonyms.clear(); // a cache, bounded
      pseudonyms.set(k, p);
    }
    return p;
  };

  const dayOffset = (ownerKey: string): number => {
    const h = hmac('date-shift', ownerKey);
    const magnitude = MIN_SHIFT_DAYS + (h.readUInt32BE(0) % (MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1));
    return h[4] & 1 ? magnitude : -magnitude;
  };

  const reference = (ref: string): string | undefined => {
    if (ref.startsWith('#')) return ref; // a contained resource: local to this one
    const uuid = URN_UUID_RE.exec(ref);
    if (uuid) return `urn:uuid:${asUuid(pseudonym('urn:uuid', uuid[1].toLowerCase()))}`;
    const m = REFERENCE_RE.exec(ref);
    if (m && isResourceType(m[1])) return `${m[1]}/${pseudonym(m[1], m[2])}`;
    return undefined; // conditional references (they carry search criteria), urn:oid...: dropped
  };

  return {
    pseudonym,
    dayOffset,
    resource<T extends Resource>(resource: T, patientId: string | null): T {
      const days = dayOffset(patientId ?? `${resource.resourceType}/${resource.id ?? ''}`);
      const ctx: Ctx = { days, reference, pseudonym };
      const out = walkResource(resource as unknown as Json, ctx, false) ?? { resourceType: resource.resourceType };
      if (resource.id) out.id = pseudonym(resource.resourceType, resource.id);
      return out as unknown as T;
    },
  };
}

// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

interface Ctx {
  days: number;
  reference(ref: string): string | undefined;
  pseudonym(resourceType: string, id: string): string;
}

interface ElementInfo {
  type: string;
  isArray: boolean;
  /** Required (min >= 1): when removed, it is replaced by a "masked" data-absent-reason. */
  required: boolean;
}

/** What stands for a required element that was removed, so the resource stays valid. */
const MASKED = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] };

const typeCache = new Map<string, Map<string, ElementInfo>>();

/** The JSON names of a type's elements (a choice `value[x]` gives valueString, valueQuantity...). */
function elementsOf(typeName: string): Map<string, ElementInfo> | undefined {
  let found = typeCache.get(typeName);
  if (found) return found;
  const schema = tryGetDataType(typeName);
  if (!schema) return undefined;
  found = new Map();
  for (const [key, element] of Object.entries(schema.elements)) {
    const isChoice = key.endsWith('[x]');
    for (const t of element.type) {
      const type = t.code.startsWith('http://hl7.org/fhirpath/System.') ? 'string' : t.code;
      found.set(isChoice ? key.slice(0, -3) + capitalize(type) : key, { type, isArray: !isChoice && !!element.isArray, required: element.min > 0 });
    }
  }
  typeCache.set(typeName, found);
  return found;
}

/** `local`: a contained resource, whose id is local to its container (`#id` references) and kept. */
function walkResource(resource: Json, ctx: Ctx, embedded: boolean, local = false): Json | undefined {
  const type = resource.resourceType;
  if (typeof type !== 'string' || !isResourceType(type)) return undefined;
  const out = walkComplex(resource, type, ctx);
  if (!out) return embedded ? undefined : { resourceType: type };
  out.resourceType = type;
  // A resource inside another (Bundle.entry.resource, Parameters) has a real id: pseudonymised; a root id is replaced by the caller.
  if (embedded && !local && typeof resource.id === 'string') out.id = ctx.pseudonym(type, resource.id);
  return out;
}

function walkComplex(value: Json, typeName: string, ctx: Ctx): Json | undefined {
  const elements = elementsOf(typeName);
  if (!elements) return undefined;
  const keptOnly = KEPT_ONLY[typeName];
  const out: Json = {};
  const masked: Array<[string, ElementInfo]> = [];
  for (const [key, v] of Object.entries(value)) {
    if (key === 'resourceType' || v === undefined) continue;
    const twin = key.startsWith('_');
    const name = twin ? key.slice(1) : key;
    const element = elements.get(name);
    if (!element || (keptOnly && !keptOnly.has(name)) || DROPPED_ELEMENTS.has(`${typeName}.${name}`)) continue;
    if (twin) {
      if (dropsPrimitive(typeName, name, element.type, keptOnly)) continue;
      // A primitive's id and extensions, aligned with its values when it repeats.
      const w = Array.isArray(v)
        ? v.map((x) => (x && typeof x === 'object' ? walkComplex(x as Json, 'Element', ctx) ?? null : null))
        : v && typeof v === 'object' ? walkComplex(v as Json, 'Element', ctx) : undefined;
      if (w !== undefined && (!Array.isArray(w) || w.some((x) => x !== null))) out[key] = w;
      continue;
    }
    if (name === 'id') {
      if (typeof v === 'string') out.id = v; // element ids; a resource's own id is replaced by the caller
      continue;
    }
    const w = walkElement(v, typeName, name, element.type, ctx, keptOnly);
    if (w !== undefined) out[key] = w;
    else if (element.required) masked.push([key, element]);
  }
  for (const [key, element] of masked) {
    if (out[key] !== undefined || out[`_${key}`] !== undefined) continue;
    if (isObjectType(element.type)) out[key] = element.isArray ? [MASKED] : MASKED;
    else if (element.isArray) {
      out[key] = [null];
      out[`_${key}`] = [MASKED];
    } else out[`_${key}`] = MASKED;
  }
  if (typeName === 'Extension' && !Object.keys(out).some((k) => k.startsWith('value') || k === 'extension')) return undefined;
  if (typeName === 'Reference' && out.reference === undefined && out.type === undefined && out.extension === undefined) return undefined;
  return Object.keys(out).some((k) => k !== 'id' && k !== 'url') ? out : undefined;
}

function dropsPrimitive(owner: string, name: string, type: string, keptOnly: Set<string> | undefined): boolean {
  if (DROPPED_TYPES.has(type)) return true;
  if (type === 'string' && !(keptOnly?.has(name) || KEPT_STRINGS.has(`${owner}.${name}`) || (owner === 'Extension' && name === 'url'))) {
    return !(owner === 'Reference' && name === 'reference');
  }
  return false;
}

function walkElement(v: unknown, owner: string, name: string, type: string, ctx: Ctx, keptOnly: Set<string> | undefined): unknown {
  if (DROPPED_TYPES.has(type)) return undefined;
  if (owner === 'Reference' && name === 'reference') return typeof v === 'string' ? ctx.reference(v) : undefined;
  if (type === 'string') return dropsPrimitive(owner, name, type, keptOnly) ? undefined : v;
  if (DATE_TYPES.has(type)) return mapValue(v, (x) => (typeof x === 'string' ? shiftDate(x, ctx.days) : x));
  if (type === 'Resource' || isResourceType(type)) return mapValue(v, (x) => walkResource(x as Json, ctx, true, name === 'contained'));
  if (isObjectType(type)) return mapValue(v, (x) => (x && typeof x === 'object' ? walkComplex(x as Json, type, ctx) : undefined));
  return v; // boolean, numbers, code, uri, canonical, id, time...: kept
}

/** Complex types start with a capital letter; primitives do not. */
function isObjectType(type: string): boolean {
  return /^[A-Z]/.test(type);
}

/** Applies `f` to a value or to each item of an array, dropping what becomes undefined (and empty arrays). */
function mapValue(v: unknown, f: (x: unknown) => unknown): unknown {
  if (!Array.isArray(v)) return f(v);
  const items = v.map(f).filter((x) => x !== undefined);
  return items.length ? items : undefined;
}

/**
 * Shifts a FHIR date, dateTime or instant by whole days, keeping its precision, time of day and
 * zone. A year or year-month is shifted from its middle, so it moves only when the shift reaches
 * past it. Text that is not a date is dropped (it cannot be shifted, so it could reveal the truth).
 */
export function shiftDate(value: string, days: number): string | undefined {
  const m = DATE_RE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, time] = m;
  const start = new Date(0);
  start.setUTCFullYear(Number(y), mo ? Number(mo) - 1 : 6, d ? Number(d) : mo ? 15 : 2);
  const shifted = new Date(start.getTime() + days * DAY_MS);
  const year = String(shifted.getUTCFullYear()).padStart(4, '0');
  const month = String(shifted.getUTCMonth() + 1).padStart(2, '0');
  const day = String(shifted.getUTCDate()).padStart(2, '0');
  if (!mo) return year;
  if (!d) return `${year}-${month}`;
  return `${year}-${month}-${day}${time ?? ''}`;
}

function asUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
