import type { CodeableConcept, Coding, HumanName, Patient, Reference, Resource } from '@medplum/fhirtypes';

/** `Type/id` or `Type/id/_history/v`: a reference to a resource on this server. */
const LOCAL_REF = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * The id in a local `{type}/{id}` reference, or undefined. urn:uuid:, absolute, conditional
 * (`Practitioner?identifier=...`) and contained (`#x`) references are not local: the bundle
 * processor resolves them before a resource reaches a mapper.
 */
export function localRefId(ref: Reference | undefined, type: string): string | undefined {
  const m = ref?.reference ? LOCAL_REF.exec(ref.reference) : null;
  return m && m[1] === type ? m[2] : undefined;
}

/** A local reference built from a row's foreign key (undefined when the column is empty). */
export function localRef<T extends Resource>(type: T['resourceType'], id: unknown): Reference<T> | undefined {
  return typeof id === 'string' && id ? { reference: `${type}/${id}` } : undefined;
}

/** The subject of a patient-owned row (patient_id is NOT NULL in every such table). */
export function patientRef(row: Record<string, unknown>): Reference<Patient> {
  return { reference: `Patient/${String(row.patient_id)}` };
}

/** The resource's id; a mapper only sees resources the store has already given an id. */
export function requireId(resource: Resource): string {
  if (!resource.id) throw new Error(`${resource.resourceType} has no id: it cannot be projected`);
  return resource.id;
}

/** The first coding that has a code (the coding a table's code/system columns take). */
export function firstCoding(cc: CodeableConcept | undefined): Coding | undefined {
  return cc?.coding?.find((c) => c.code);
}

/** Human-readable text of a concept: its text, else the first coding display. */
export function conceptText(cc: CodeableConcept | undefined): string | undefined {
  return cc?.text || cc?.coding?.find((c) => c.display)?.display;
}

/** Text of a concept, falling back to the first code when nothing readable is given. */
export function conceptLabel(cc: CodeableConcept | undefined): string | undefined {
  return conceptText(cc) ?? firstCoding(cc)?.code;
}

/**
 * A string cut to `max` characters (code points, as varchar(n) counts them), or null.
 * Cutting by code point never splits a surrogate pair.
 */
export function truncate(s: string | undefined | null, max: number): string | null {
  if (!s) return null;
  const chars = Array.from(s);
  return chars.length > max ? chars.slice(0, max).join('') : s;
}

/**
 * A readable full name: the official name (else usual, else the first name that is not old or
 * maiden, else the first), as given names + family, else its text.
 */
export function humanNameText(names: HumanName[] | undefined): string {
  if (!names?.length) return '';
  const name =
    names.find((n) => n.use === 'official') ??
    names.find((n) => n.use === 'usual') ??
    names.find((n) => n.use !== 'old' && n.use !== 'maiden') ??
    names[0];
  const parts = [...(name.given ?? []), name.family].filter((p): p is string => !!p?.trim());
  return parts.length ? parts.join(' ') : (name.text ?? '');
}

const FHIR_DATE_TIME = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * A FHIR date/dateTime/instant as a UTC ISO timestamp, or null. Normalised to UTC because several
 * seed columns are `timestamp` without time zone, where PostgreSQL silently drops an offset, and
 * because partial dates ('2015', '2015-02') would be refused by the column. Partial dates take
 * their first instant.
 */
export function toTimestamp(value: string | undefined): string | null {
  if (!value || !FHIR_DATE_TIME.test(value)) return null;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? null : t.toISOString();
}

/** A full calendar date (YYYY-MM-DD), else null: partial dates do not fit a `date` column. */
export function toDate(value: string | undefined): string | null {
  if (!value || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return null;
  const t = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(t.getTime()) && t.toISOString().startsWith(value) ? value : null;
}

/** A timestamp column read back (a Date from the driver, or a string) as an ISO string. */
export function fromTimestamp(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (typeof value !== 'string' || !value) return undefined;
  // PostgreSQL's text form ("2017-02-17 16:52:12" or "...+00"): the projection writes UTC.
  let s = value.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00');
  if (/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(s)) s += 'Z';
  return toTimestamp(s) ?? value;
}

/**
 * A date column read back as YYYY-MM-DD. node-postgres parses `date` as local midnight, so a
 * Date's local calendar fields are the stored date.
 */
export function fromDate(value: unknown): string | undefined {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return undefined;
    const pad = (n: number) => String(n).padStart(2, '0');
    return `${value.getFullYear()}-${pad(value.getMonth() + 1)}-${pad(value.getDate())}`;
  }
  return typeof value === 'string' && value ? value.slice(0, 10) : undefined;
}

/** A non-empty string column value, else undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}

/** A numeric column value (the driver returns decimals as strings), else undefined. */
export function num(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** A jsonb/encrypted-JSON column read back: an object, or JSON text. */
export function json<T>(value: unknown): T | undefined {
  if (value === null || value === undefined) return undefined;
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/** The object without its undefined properties, so rebuilt resources carry no empty keys. */
export function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
