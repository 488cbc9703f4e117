import type { Parameters } from '@medplum/fhirtypes';
import { isResourceType } from '../definitions/fhir-definitions';
import { OperationOutcomeError, badRequest } from '../operation-outcome';
import type { ExportLevel } from './export.repository';

/** The NDJSON media types a client may name in _outputFormat (the IG's full and short forms). */
export const OUTPUT_FORMATS = ['application/fhir+ndjson', 'application/ndjson', 'ndjson'];

/** Parameters of the Bulk Data IG this server does not offer: refused, or ignored with Prefer: handling=lenient. */
const UNSUPPORTED = ['_typeFilter', '_elements', 'includeAssociatedData', 'organizeOutputBy', 'allowPartialManifests'];

/** What a kick-off asks for, checked for form (access is checked by the service). */
export interface KickoffRequest {
  /** The types named in _type (undefined: every type the token may read). */
  types?: string[];
  /** _since as given (an instant). */
  since?: string;
  /** Patient ids of the `patient` parameter (POST at Patient and Group level). */
  patients?: string[];
  /** The server's own `deidentify` parameter. */
  deidentify?: boolean;
  /** Parameters ignored under Prefer: handling=lenient. */
  ignored: string[];
}

const INSTANT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const PATIENT_REF_RE = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/;

/**
 * Checks a kick-off request (http://hl7.org/fhir/uv/bulkdata/STU2/export.html): `Prefer:
 * respond-async` is required; `_outputFormat` must be NDJSON; `_since` an instant; `_type` known
 * resource types; `patient` only in a POST at Patient or Group level. Anything else is refused
 * with 400, unless `Prefer: handling=lenient` asks for it to be ignored.
 */
export function parseKickoff(level: ExportLevel, method: string, params: Array<[string, string]>, prefer: string | undefined): KickoffRequest {
  if (!prefer || !/(^|[,;\s])respond-async($|[,;\s])/i.test(prefer)) {
    throw badRequest('A Bulk Data kick-off needs the header "Prefer: respond-async"');
  }
  const lenient = /handling\s*=\s*lenient/i.test(prefer);
  const out: KickoffRequest = { ignored: [] };
  const seen = new Set<string>();
  const once = (name: string) => {
    if (seen.has(name)) throw badRequest(`${name} may be given only once`);
    seen.add(name);
  };
  for (const [name, raw] of params) {
    const value = raw.trim();
    switch (name) {
      case '_outputFormat':
        once(name);
        // The IG's own examples write `_outputFormat=application/fhir+ndjson` unencoded, and a
        // query's "+" arrives as a space; a media type holds no space, so it can only be that "+".
        if (!OUTPUT_FORMATS.includes(value.replace(/ /g, '+').toLowerCase())) {
          throw badRequest(`_outputFormat "${value}" is not supported; use ${OUTPUT_FORMATS.join(', ')}`);
        }
        break;
      case '_since': {
        once(name);
        // An unencoded "+" of a time zone arrives as a space.
        const since = value.replace(/ (\d{2}:\d{2})$/, '+$1');
        if (!INSTANT_RE.test(since) || Number.isNaN(Date.parse(since))) {
          throw badRequest(`_since "${value}" is not a FHIR instant (e.g. 2024-01-31T12:00:00Z)`);
        }
        out.since = since;
        break;
      }
      case '_type': {
        const types = value.split(',').map((t) => t.trim());
        for (const t of types) if (!isResourceType(t)) throw badRequest(`_type names an unknown resource type "${t}"`);
        out.types = [...new Set([...(out.types ?? []), ...types])];
        break;
      }
      case 'patient': {
        if (level === 'system') throw badRequest('The patient parameter is accepted at Patient and Group level only');
        if (method !== 'POST') throw badRequest('The patient parameter is accepted only in a POST kick-off (a Parameters body)');
        const m = PATIENT_REF_RE.exec(value);
        if (!m) throw badRequest(`patient "${value}" is not a reference to a Patient`);
        out.patients = [...new Set([...(out.patients ?? []), m[1]])];
        break;
      }
      case 'deidentify':
        once(name);
        if (value !== 'true' && value !== 'false') throw badRequest(`deidentify must be true or false, got "${value}"`);
        out.deidentify = value === 'true';
        break;
      case '_format':
        if (!['json', 'application/json', 'application/fhir+json'].includes(value.toLowerCase())) throw notAcceptableFormat(value);
        break;
      default:
        if (lenient) {
          out.ignored.push(name);
          break;
        }
        throw badRequest(
          UNSUPPORTED.includes(name)
            ? `${name} is not supported by this server (send Prefer: handling=lenient to have it ignored)`
            : `Unknown parameter "${name}" for $export (send Prefer: handling=lenient to have it ignored)`,
        );
    }
  }
  return out;
}

/** A POST kick-off's Parameters body as name/value pairs (references as their reference text). */
export function parametersToPairs(body: unknown): Array<[string, string]> {
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) return [];
  const p = body as Parameters;
  if (p.resourceType !== 'Parameters') throw badRequest('A POST kick-off takes a Parameters resource as its body');
  return (p.parameter ?? []).map((param, i) => {
    if (!param.name) throw badRequest(`Parameters.parameter[${i}] has no name`);
    const value =
      param.valueReference?.reference ??
      param.valueString ??
      param.valueInstant ??
      param.valueDateTime ??
      param.valueCode ??
      param.valueUri ??
      (param.valueBoolean !== undefined ? String(param.valueBoolean) : undefined);
    if (value === undefined) throw badRequest(`Parameters.parameter[${i}] (${param.name}) has no value this server reads`);
    return [param.name, value];
  });
}

function notAcceptableFormat(value: string): OperationOutcomeError {
  return OperationOutcomeError.of(406, 'not-supported', `_format "${value}": a Bulk Data kick-off answers application/fhir+json only`);
}
