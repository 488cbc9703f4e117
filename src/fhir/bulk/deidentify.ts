import { createHmac } from 'node:crypto';
import { capitalize, tryGetDataType } from '@medplum/core';
import type { Device, Resource } from '@medplum/fhirtypes';
import { isResourceType, loadFhirDefinitions } from '../definitions/fhir-definitions';
import { carryLexemes } from '../json/lexemes';

/**
 * De-identification of resources for data scientists' exports, after HIPAA Safe Harbor
 * (45 CFR 164.514(b)(2)), as pure functions keyed by a secret:
 *
 * - Direct identifiers are removed wherever their data type appears: HumanName, ContactPoint
 *   (telecom), Identifier, Signature; Address keeps only use, type, state, country and period;
 *   Attachment keeps only contentType, language, size and creation (no data, url, title);
 *   Patient.contact (relatives) and the photo of people are removed.
 * - Free text is removed, all of it: the narrative, Annotations (notes), every `markdown`, base64
 *   and xhtml value, references' display and identifier, and every `string` (CodeableConcept.text,
 *   Dosage.text, descriptions, comments...) except the few that come from code systems or are not
 *   text (Coding.display and version, units, Address.state and country, linkIds, SampledData.data).
 *   What is not known from the R4 definitions is dropped.
 * - Extensions are dropped unless their definition is known to hold no identifier (SAFE_EXTENSIONS:
 *   race, ethnicity, birth sex, birth place...), so geolocation, free-form and local extensions go;
 *   the values of those kept follow the rules here. A modifierExtension that is not known keeps its
 *   url with a masked value: dropping it would change what the element means.
 * - uri, url and canonical values survive only in known terminology and profile namespaces
 *   (KNOWN_NAMESPACES); a Coding whose system is not known (or absent) goes whole, as its code may
 *   be a local number (an MRN); a Quantity's code goes with an unknown system. Values of type id,
 *   oid and uuid (DICOM UIDs...) and element ids go; ids of contained resources are pseudonymised.
 * - Every date, dateTime and instant (birthDate, deceased, periods...) is shifted by a whole number
 *   of days derived from the owning patient (HMAC), between 30 and 365 days either way, so
 *   intervals within a patient (ages at events included) are kept exactly. meta.lastUpdated goes:
 *   it is the real time of a write, known outside the export (the manifest's transactionTime, a
 *   resource appearing between two exports), so shifted it would tell the shift.
 * - Every resource id, and every reference to one, becomes a pseudonym: the HMAC of `Type/id`,
 *   the same in every export made with the same key, so exports can be joined.
 * - Ages over 89 are one category, "90 or older" (Safe Harbor): a Patient who could be 90 or older
 *   now (or was at death) loses birthDate (masked); an Age value (onsetAge...) or an age
 *   Observation over 89 years becomes `>= 90`.
 * Codes of known systems, quantities, booleans, numbers (with their decimal lexemes) and other values are kept.
 */
export interface Deidentifier {
  /** The stable pseudonym of a resource id. */
  pseudonym(resourceType: string, id: string): string;
  /** The day offset of a patient's dates (or, for resources of no patient, of `Type/id`). */
  dayOffset(ownerKey: string): number;
  /** A de-identified copy; `patientId` is the compartment owner whose offset shifts the dates. */
  resource<T extends Resource>(resource: T, patientId: string | null): T;
  /**
   * A reference as exports write it (`Type/<pseudonym>`, `urn:uuid:<pseudonymous uuid>`, a
   * contained `#id` pseudonymised); undefined for what they drop (conditional references...).
   */
  reference(ref: string): string | undefined;
  /**
   * A model registry's Device (the caller knows it is one: its id is an ai_models id): a model
   * version, about no person, so its registry fields stay as written (REGISTRY_DEVICE_FIELDS:
   * model name and title, version, task, lifecycle status, condition served, metrics and their
   * labels, the file's sha256), and the de-identified outputs that name it as performer or agent
   * still say which version made them. Its id is pseudonymised like every other (so those
   * references join), its dates shifted, and anything else it holds goes through the rules above.
   */
  registryDevice(device: Device): Device;
}

/** What a registry Device keeps in a de-identified export (src/ai/model-device.ts writes them). */
export const REGISTRY_DEVICE_FIELDS = ['status', 'identifier', 'deviceName', 'modelNumber', 'type', 'version', 'property'] as const;
const REGISTRY_IDENTIFIER_SYSTEM = 'urn:fhir-ai-server:model-sha256';

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
  'Meta.lastUpdated',
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

/**
 * The `string` elements kept: they come from code systems or are not text, so they cannot say who
 * the patient is. CodeableConcept.text and Dosage.text are free text (what a clinician typed), so
 * they go like any other string.
 */
const KEPT_STRINGS = new Set([
  'Coding.display',
  'Coding.version',
  'Address.state',
  'Address.country',
  'SampledData.data',
  'QuestionnaireResponseItem.linkId',
  'QuestionnaireItem.linkId',
  ...['Quantity', 'SimpleQuantity', 'Age', 'Count', 'Distance', 'Duration', 'MoneyQuantity'].map((t) => `${t}.unit`),
]);

/**
 * Extensions kept (their values then follow the same rules): definitions whose values are coded
 * demographics or measures, none an identifier. Any other extension is dropped, whatever its value:
 * a local extension may hold anything (an email as valueUri, an MRN as valueCode), and standard
 * ones include geolocation, mothers' maiden names and the like.
 */
export const SAFE_EXTENSIONS: ReadonlySet<string> = new Set([
  'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
  'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
  'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex',
  'http://hl7.org/fhir/us/core/StructureDefinition/us-core-genderIdentity',
  'http://hl7.org/fhir/StructureDefinition/patient-genderIdentity',
  'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', // an Address: state and country only
  'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
  'http://synthetichealth.github.io/synthea/disability-adjusted-life-years',
  'http://synthetichealth.github.io/synthea/quality-adjusted-life-years',
]);

/**
 * Namespaces of code systems, profiles and definitions: a uri, url or canonical value outside them
 * (a mailto:, a personal web page, a local system whose codes are patients' numbers) is removed.
 * The server's own code systems and extensions are known too.
 */
export const KNOWN_NAMESPACES: readonly string[] = [
  'http://hl7.org/fhir/',
  'http://terminology.hl7.org/',
  'http://loinc.org',
  'http://snomed.info/',
  'http://www.nlm.nih.gov/research/umls/',
  'http://unitsofmeasure.org',
  'http://nucc.org/',
  'http://www.ama-assn.org/go/cpt',
  'http://www.nubc.org/',
  'http://dicom.nema.org/',
  'http://ihe.net/',
  'http://www.whocc.no/atc',
  'http://www.cms.gov/Medicare/Coding/',
  'https://bluebutton.cms.gov/resources/codesystem/',
  'https://bluebutton.cms.gov/resources/variables/',
  'http://synthetichealth.github.io/synthea/',
  'urn:ietf:bcp:47',
  'urn:ietf:bcp:13',
  'urn:iso:std:iso:',
  // HL7 OIDs of code systems only (.5 v3, .6 external, .12 and .18 v2 tables); .4 holds identifier systems (SSN, licences).
  'urn:oid:2.16.840.1.113883.5.',
  'urn:oid:2.16.840.1.113883.6.',
  'urn:oid:2.16.840.1.113883.12.',
  'urn:oid:2.16.840.1.113883.18.',
  'urn:fhir-ai-server:',
  'https://fhir-ai-server.dev/',
];

/** Identifier systems inside known namespaces: their "codes" are people's numbers. */
const IDENTIFIER_NAMESPACE = /^http:\/\/hl7\.org\/fhir\/sid\/(?!(?:cvx|mvx|ndc|icd-9-cm|icd-10|icd-10-cm|icd-10-pcs|ex-icd-10-procedures|ex-icd-10-diagnoses)$)|^https:\/\/bluebutton\.cms\.gov\/resources\/variables\/\w*(?:_id|_num|npi)\w*$|^urn:fhir-ai-server:client$/;

/** Whether a uri, url or canonical is in a known namespace (and names no identifier system). */
export function isKnownNamespace(uri: string): boolean {
  return KNOWN_NAMESPACES.some((ns) => uri.startsWith(ns)) && !IDENTIFIER_NAMESPACE.test(uri);
}

/** Primitive types whose values are links or names of definitions: kept only in known namespaces. */
const URI_TYPES = new Set(['uri', 'url', 'canonical']);
/** Primitive types whose values are identifiers (DICOM UIDs and the like), removed; resource ids are pseudonymised apart. */
const ID_TYPES = new Set(['id', 'oid', 'uuid']);
/** `id`-typed elements kept: a version number says nothing of anyone. */
const KEPT_IDS = new Set(['Meta.versionId']);
const QUANTITY_TYPES = new Set(['Quantity', 'SimpleQuantity', 'Age', 'Count', 'Distance', 'Duration', 'MoneyQuantity']);

const DATE_TYPES = new Set(['date', 'dateTime', 'instant']);
const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(T.+)?)?)?$/;
const REFERENCE_RE = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const URN_UUID_RE = /^urn:uuid:([0-9a-fA-F-]{36})$/;

/** LOINC codes of Observations whose value is the patient's age. */
const AGE_OBSERVATION_CODES = new Set(['30525-0', '21612-7', '29553-5']);
/** Units of years (UCUM `a` and how people write it). */
const YEAR_UNITS = new Set(['a', 'yr', 'yrs', 'year', 'years', 'y']);
/** The oldest age shown as it is; anything above is "90 or older". */
const OLDEST_SHOWN_AGE = 89;

/** `now`: the moment ages are reckoned at (the export's time). */
export function createDeidentifier(key: Buffer, now: () => Date = () => new Date()): Deidentifier {
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

  // Ids of contained resources are chosen by whoever wrote the container, so they may say anything.
  const local = (id: string): string => hmac('local', id).subarray(0, 8).toString('hex');

  const reference = (ref: string): string | undefined => {
    if (ref === '#') return ref; // the container itself
    if (ref.startsWith('#')) return `#${local(ref.slice(1))}`; // a contained resource
    const uuid = URN_UUID_RE.exec(ref);
    if (uuid) return `urn:uuid:${asUuid(pseudonym('urn:uuid', uuid[1].toLowerCase()))}`;
    const m = REFERENCE_RE.exec(ref);
    if (m && isResourceType(m[1])) return `${m[1]}/${pseudonym(m[1], m[2])}`;
    return undefined; // conditional references (they carry search criteria), urn:oid...: dropped
  };

  const resource = <T extends Resource>(given: T, patientId: string | null): T => {
    const days = dayOffset(patientId ?? `${given.resourceType}/${given.id ?? ''}`);
    const ctx: Ctx = { days, reference, pseudonym, local, now: now() };
    const out = walkResource(given as unknown as Json, ctx, false) ?? { resourceType: given.resourceType };
    if (given.id) out.id = pseudonym(given.resourceType, given.id);
    return out as unknown as T;
  };

  return {
    pseudonym,
    dayOffset,
    resource,
    reference,
    registryDevice(device: Device): Device {
      const out = resource(device, null) as Device & Json;
      for (const field of REGISTRY_DEVICE_FIELDS) {
        const value = field === 'identifier' ? device.identifier?.filter((i) => i.system === REGISTRY_IDENTIFIER_SYSTEM) : device[field];
        if (value !== undefined && (!Array.isArray(value) || value.length)) out[field] = value as never;
        else delete out[field];
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

interface Ctx {
  days: number;
  reference(ref: string): string | undefined;
  pseudonym(resourceType: string, id: string): string;
  local(id: string): string;
  now: Date;
}

interface ElementInfo {
  type: string;
  isArray: boolean;
  /** Required (min >= 1): when removed, it is replaced by a "masked" data-absent-reason. */
  required: boolean;
}

/** What stands for a required element that was removed, so the resource stays valid. */
const MASKED = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] };
const MASKED_JSON = JSON.stringify(MASKED);

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

/** `local`: a contained resource, whose id is local to its container (`#id` references): pseudonymised the same way as those references. */
function walkResource(resource: Json, ctx: Ctx, embedded: boolean, local = false): Json | undefined {
  const type = resource.resourceType;
  if (typeof type !== 'string' || !isResourceType(type)) return undefined;
  const out = walkComplex(resource, type, ctx);
  if (!out) return embedded ? undefined : { resourceType: type };
  out.resourceType = type;
  if (type === 'Patient' && mayBeNinetyOrOlder(resource, ctx.now)) {
    delete out.birthDate;
    out._birthDate = JSON.parse(MASKED_JSON) as Json;
  }
  if (type === 'Observation' && isAgeObservation(resource) && out.valueQuantity) out.valueQuantity = topCodedAge(out.valueQuantity as Json);
  // A resource inside another (Bundle.entry.resource, Parameters) has a real id: pseudonymised; a root id is replaced by the caller.
  if (embedded && typeof resource.id === 'string') out.id = local ? ctx.local(resource.id) : ctx.pseudonym(type, resource.id);
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
    // A resource's own id is replaced by the caller (walkResource); element ids are free text and go.
    if (name === 'id') continue;
    if (name === 'extension' && typeName !== 'Extension') {
      // Only known-safe extensions; those inside a kept one are its parts (race's ombCategory...).
      const kept = Array.isArray(v) ? v.filter((x) => SAFE_EXTENSIONS.has((x as Json | null)?.url as string)) : [];
      const w = kept.length ? walkElement(kept, typeName, name, element.type, ctx, keptOnly) : undefined;
      if (w !== undefined) out[key] = w;
      continue;
    }
    if (name === 'modifierExtension') {
      const w = Array.isArray(v) ? mapValue(v, (x) => modifierExtension(x, ctx)) : undefined;
      if (w !== undefined) out[key] = w;
      continue;
    }
    const w = walkElement(v, typeName, name, element.type, ctx, keptOnly);
    if (w !== undefined) out[key] = w;
    else if (element.required) masked.push([key, element]);
  }
  // Decimal lexemes (1.50) of the numbers kept: they travel on the holder, which is a new object here.
  carryLexemes(value, out);
  for (const [key, element] of masked) {
    if (out[key] !== undefined || out[`_${key}`] !== undefined) continue;
    if (isObjectType(element.type)) out[key] = element.isArray ? [MASKED] : MASKED;
    else if (element.isArray) {
      out[key] = [null];
      out[`_${key}`] = [MASKED];
    } else out[`_${key}`] = MASKED;
  }
  if (typeName === 'Extension' && !Object.keys(out).some((k) => k.startsWith('value') || k === 'extension')) return undefined;
  // A code of an unknown (or no) system may be anyone's number (an MRN, a claim number): the Coding goes whole.
  if (typeName === 'Coding' && out.system === undefined) return undefined;
  if (QUANTITY_TYPES.has(typeName) && out.system === undefined) delete out.code;
  if (typeName === 'Age') return topCodedAge(out);
  if (typeName === 'Reference' && out.reference === undefined && out.type === undefined && out.extension === undefined) return undefined;
  return Object.keys(out).some((k) => k !== 'id' && k !== 'url') ? out : undefined;
}

/**
 * Whether the Patient could be 90 or older now, or was at death: reckoned from the earliest day
 * its birthDate could mean (a year alone: 1 January), so a year of birth never reveals an age over 89.
 */
function mayBeNinetyOrOlder(patient: Json, now: Date): boolean {
  const m = typeof patient.birthDate === 'string' ? DATE_RE.exec(patient.birthDate) : null;
  if (!m) return false;
  const died = typeof patient.deceasedDateTime === 'string' ? new Date(patient.deceasedDateTime) : undefined;
  const end = died && !Number.isNaN(died.getTime()) && died < now ? died : now;
  const [y, mo, d] = [Number(m[1]), m[2] ? Number(m[2]) : 1, m[3] ? Number(m[3]) : 1];
  const birthdayReached = end.getUTCMonth() + 1 > mo || (end.getUTCMonth() + 1 === mo && end.getUTCDate() >= d);
  const age = end.getUTCFullYear() - y - (birthdayReached ? 0 : 1);
  return age > OLDEST_SHOWN_AGE;
}

function isAgeObservation(observation: Json): boolean {
  const codings = ((observation.code as Json | undefined)?.coding ?? []) as Json[];
  return Array.isArray(codings) && codings.some((c) => c?.system === 'http://loinc.org' && AGE_OBSERVATION_CODES.has(c.code as string));
}

/** An age in years over 89 as the one category `>= 90`; other ages (and other units) as they are. */
function topCodedAge(q: Json | undefined): Json | undefined {
  if (!q || typeof q.value !== 'number' || q.value <= OLDEST_SHOWN_AGE) return q;
  const unit = String(q.code ?? q.unit ?? '').toLowerCase();
  if (!YEAR_UNITS.has(unit)) return q;
  return { ...q, value: OLDEST_SHOWN_AGE + 1, comparator: '>=' };
}

/** A modifierExtension kept as it is when known-safe; else its url with a masked value, so that readers still know the element's meaning is modified. */
function modifierExtension(x: unknown, ctx: Ctx): unknown {
  if (!x || typeof x !== 'object' || typeof (x as Json).url !== 'string') return undefined;
  const url = (x as Json).url as string;
  if (SAFE_EXTENSIONS.has(url)) return walkComplex(x as Json, 'Extension', ctx);
  return { url, ...(JSON.parse(MASKED_JSON) as Json) };
}

function dropsPrimitive(owner: string, name: string, type: string, keptOnly: Set<string> | undefined): boolean {
  if (DROPPED_TYPES.has(type)) return true;
  if (ID_TYPES.has(type)) return !KEPT_IDS.has(`${owner}.${name}`);
  if (type === 'string' && !(keptOnly?.has(name) || KEPT_STRINGS.has(`${owner}.${name}`) || (owner === 'Extension' && name === 'url'))) {
    return !(owner === 'Reference' && name === 'reference');
  }
  return false;
}

function walkElement(v: unknown, owner: string, name: string, type: string, ctx: Ctx, keptOnly: Set<string> | undefined): unknown {
  if (DROPPED_TYPES.has(type)) return undefined;
  if (owner === 'Reference' && name === 'reference') return typeof v === 'string' ? ctx.reference(v) : undefined;
  if (type === 'string' || ID_TYPES.has(type)) return dropsPrimitive(owner, name, type, keptOnly) ? undefined : v;
  // An extension's url names its definition: only kept extensions get here (and their parts' relative names).
  if (owner === 'Extension' && name === 'url') return v;
  if (URI_TYPES.has(type)) return mapValue(v, (x) => (typeof x === 'string' && (isKnownNamespace(x) || (owner === 'Reference' && isResourceType(x))) ? x : undefined));
  if (DATE_TYPES.has(type)) return mapValue(v, (x) => (typeof x === 'string' ? shiftDate(x, ctx.days) : x));
  if (type === 'Resource' || isResourceType(type)) return mapValue(v, (x) => walkResource(x as Json, ctx, true, name === 'contained'));
  if (isObjectType(type)) return mapValue(v, (x) => (x && typeof x === 'object' ? walkComplex(x as Json, type, ctx) : undefined));
  return v; // boolean, numbers, code (bound to value sets), time...: kept
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
