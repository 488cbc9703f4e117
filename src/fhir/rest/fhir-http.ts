import type { Request, Response } from 'express';
import type { Resource } from '@medplum/fhirtypes';
import type { AppConfig } from '../../config/app-config';
import { resourceToXml } from './fhir-xml';
import { OperationOutcomeError, badRequest } from '../operation-outcome';
import { isResourceType } from '../definitions/fhir-definitions';
import { FHIR_ID } from '../definitions/resource-validator';
import { clientCopyIsCurrent } from '../read/conditional-read';
import { parseFhirJson } from '../json/fhir-json';
import { stringifyFhirJson } from '../json/lexemes';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
export const FHIR_XML = 'application/fhir+xml; charset=utf-8';
export const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];
export const XML_TYPES = ['application/fhir+xml', 'application/xml', 'text/xml', 'application/xml+fhir'];

export type FhirFormat = 'json' | 'xml';

/** Accept headers that name one format outright, answered without parsing them (most clients send one of these). */
const EXACT_ACCEPT = new Map<string, FhirFormat>([...JSON_TYPES.map((t) => [t, 'json'] as const), ['*/*', 'json'], ...XML_TYPES.map((t) => [t, 'xml'] as const)]);

/** The server's FHIR base URL as clients reach it. */
export function fhirBase(req: Request, config: AppConfig): string {
  if (config.publicBaseUrl) return `${config.publicBaseUrl}/fhir`;
  return `${req.protocol}://${req.get('host')}/fhir`;
}

/**
 * Chooses JSON or XML from `_format` (which wins) or Accept, remembers it on the request for the
 * response (and for errors), and refuses what the server cannot produce with 406.
 */
export function negotiate(req: Request): FhirFormat {
  const format = req.query._format;
  let chosen: FhirFormat | undefined;
  let named: string | undefined;
  if (format !== undefined) {
    // A `+` written unencoded in the URL arrives as a space (application/fhir json): read it as the `+` it was (as HAPI does).
    const f = String(format).toLowerCase().trim().replace(/ /g, '+');
    if (['json', 'application/json', 'application/fhir+json', 'application/json+fhir'].includes(f)) chosen = 'json';
    else if (['xml', 'text/xml', 'application/xml', 'application/fhir+xml', 'application/xml+fhir'].includes(f)) chosen = 'xml';
    else throw OperationOutcomeError.of(406, 'not-supported', `_format=${f} is not supported; use json or xml`);
    named = f;
  } else {
    const accept = req.headers.accept;
    if (!accept || accept.trim() === '') chosen = 'json';
    else if (EXACT_ACCEPT.has(accept)) {
      chosen = EXACT_ACCEPT.get(accept) as FhirFormat;
      named = accept;
    } else {
      if (/fhirversion/i.test(accept)) req.headers.accept = withoutFhirVersion(accept);
      const best = req.accepts([...JSON_TYPES, ...XML_TYPES, '*/*']);
      if (!best) throw OperationOutcomeError.of(406, 'not-supported', `Cannot produce ${accept}; this server answers application/fhir+json or application/fhir+xml`);
      chosen = XML_TYPES.includes(best) ? 'xml' : 'json';
      named = best;
    }
  }
  req.fhirFormat = chosen;
  // http.html#mime: a client that asked for the generic type by name gets it back.
  req.fhirMediaType = named === 'application/json' || named === 'application/xml' ? named : undefined;
  return chosen;
}

/** The Content-Type of a FHIR response: the generic type the client named, else the FHIR type of the negotiated format. */
export function responseType(req: Request): string {
  return req.fhirMediaType ? `${req.fhirMediaType}; charset=utf-8` : req.fhirFormat === 'xml' ? FHIR_XML : FHIR_JSON;
}

/** `_pretty=true`: indented output (looked for in the raw URL first: most requests have no query). */
export function wantsPretty(req: Request): boolean {
  return req.originalUrl.includes('_pretty') && req.query._pretty === 'true';
}

/**
 * The Accept header without its `fhirVersion` parameters (versioning.html#mt-version), which media
 * type matching would otherwise compare: ranges that ask for another FHIR version than R4 (4.0,
 * 4.0.x) are dropped, and if none is left the request is refused with 406.
 */
function withoutFhirVersion(accept: string): string {
  const kept: string[] = [];
  for (const range of accept.split(',')) {
    const version = /;\s*fhirVersion\s*=\s*"?([^;",\s]*)"?/i.exec(range)?.[1];
    if (version !== undefined && !/^4\.0(?:\.\d+)?$/.test(version)) continue;
    kept.push(range.replace(/;\s*fhirVersion\s*=\s*"?[^;",\s]*"?/gi, ''));
  }
  if (!kept.length) throw OperationOutcomeError.of(406, 'not-supported', `This server speaks FHIR R4 (fhirVersion=4.0): cannot answer ${accept}`);
  return kept.join(',');
}

/** A body must be a FHIR resource in JSON or XML (XML is turned into JSON by the body parser). */
export function requireJsonBody(req: Request): void {
  const type = req.headers['content-type'];
  if (!type) throw OperationOutcomeError.of(415, 'not-supported', 'Content-Type is required: send application/fhir+json or application/fhir+xml');
  if (!req.is([...JSON_TYPES, ...XML_TYPES])) {
    throw OperationOutcomeError.of(415, 'not-supported', `Unsupported Content-Type ${type}; send application/fhir+json or application/fhir+xml`);
  }
}

/** A PATCH body: JSON Patch (application/json-patch+json) or a FHIRPath Patch Parameters resource. */
export function requirePatchBody(req: Request, body: unknown): void {
  const type = req.headers['content-type'];
  if (!type) throw OperationOutcomeError.of(415, 'not-supported', 'Content-Type is required: send application/json-patch+json or application/fhir+json');
  if (req.is('application/json-patch+json')) {
    if (!Array.isArray(body)) throw OperationOutcomeError.of(400, 'invalid', 'A JSON Patch document must be an array of operations');
    return;
  }
  if (!req.is([...JSON_TYPES, ...XML_TYPES])) throw OperationOutcomeError.of(415, 'not-supported', `Unsupported Content-Type ${type} for PATCH`);
}

export function requireResourceType(type: string): void {
  if (!isResourceType(type)) throw OperationOutcomeError.of(404, 'not-supported', `Unknown resource type "${type}"`);
}

/**
 * The id of a path (read, vread, history, update, delete, patch, an instance operation) must be a
 * FHIR id before it goes anywhere near SQL (PostgreSQL refuses NUL in text: a 500). A control
 * character or more than 64 characters is a malformed request (400); any other id that is not a
 * FHIR id names nothing that can exist: a read answers 404 as for an unknown id (what the R4
 * TestScripts expect), a write 400, since no resource can be stored under it.
 */
export function requireFhirId(type: string, id: string, interaction: 'read' | 'write'): void {
  if (FHIR_ID.test(id)) return;
  // eslint-disable-next-line no-control-regex
  const malformed = id.length > 64 || /[\u0000-\u001f\u007f]/.test(id);
  if (interaction === 'read' && !malformed) throw OperationOutcomeError.of(404, 'not-found', `${type}/${printable(id)} is not known`);
  throw badRequest(`"${printable(id)}" is not a FHIR id ([A-Za-z0-9.-], at most 64 characters)`, [`${type}.id`]);
}

/** An id as it may be quoted in a diagnostic: no control characters, cut short. */
function printable(id: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = id.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 70 ? `${clean.slice(0, 64)}...` : clean;
}

export interface VersionHeaders {
  versionId: number;
  lastUpdated: Date;
}

export function setVersionHeaders(res: Response, v: VersionHeaders): void {
  res.setHeader('ETag', `W/"${v.versionId}"`);
  res.setHeader('Last-Modified', v.lastUpdated.toUTCString());
}

/** A request header given once, or undefined. */
export function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** Conditional read of a REST request: whether the client's copy (its If-None-Match / If-Modified-Since) is current. */
export function notModified(req: Request, v: VersionHeaders): boolean {
  return clientCopyIsCurrent({ ifNoneMatch: header(req, 'if-none-match'), ifModifiedSince: header(req, 'if-modified-since') }, v);
}

/** Sends a resource's JSON text as it is (stored resources are served without re-serialising them), or as XML when negotiated. */
export function sendJson(res: Response, status: number, json: string): void {
  const req = res.req as Request;
  if (req.fhirFormat === 'xml') {
    res.status(status).type(responseType(req)).send(resourceToXml(parseFhirJson(json) as Resource, { pretty: wantsPretty(req) }));
    return;
  }
  // _pretty=true asks for indentation; only then is the stored text parsed and written again.
  if (wantsPretty(req)) json = stringifyFhirJson(parseFhirJson(json), 2);
  // Straight to Node's response (not Express's send), in one write with the headers. Encoded once:
  // the length of a string and its write each walk its UTF-8 (a $everything page is about 100 kB).
  const body = Buffer.from(json);
  res.statusCode = status;
  res.setHeader('Content-Type', responseType(req));
  res.setHeader('Content-Length', body.length);
  if ((res.req as Request).method === 'HEAD') res.end();
  else res.end(body);
}

/** The representation the client asked for with `Prefer: return=...`. */
export function preferredReturn(req: Request): 'minimal' | 'representation' | 'OperationOutcome' {
  const prefer = req.headers.prefer;
  const m = typeof prefer === 'string' ? /return=(minimal|representation|OperationOutcome)/i.exec(prefer) : null;
  if (!m) return 'representation';
  const v = m[1].toLowerCase();
  return v === 'minimal' ? 'minimal' : v === 'operationoutcome' ? 'OperationOutcome' : 'representation';
}
