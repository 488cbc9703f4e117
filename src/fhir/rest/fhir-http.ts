import type { Request, Response } from 'express';
import type { AppConfig } from '../../config/app-config';
import { OperationOutcomeError } from '../operation-outcome';
import { isResourceType } from '../definitions/fhir-definitions';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];

/** The server's FHIR base URL as clients reach it. */
export function fhirBase(req: Request, config: AppConfig): string {
  if (config.publicBaseUrl) return `${config.publicBaseUrl}/fhir`;
  return `${req.protocol}://${req.get('host')}/fhir`;
}

/** Only JSON is offered for now: anything the client accepts must include it. */
export function negotiate(req: Request): void {
  const format = req.query._format;
  if (format !== undefined) {
    const f = String(format).toLowerCase();
    if (!['json', 'application/json', 'application/fhir+json', 'application/json+fhir'].includes(f)) {
      throw OperationOutcomeError.of(406, 'not-supported', `_format=${f} is not supported; use json`);
    }
    return;
  }
  const accept = req.headers.accept;
  if (!accept || accept.trim() === '') return;
  if (!req.accepts([...JSON_TYPES, '*/*'])) {
    throw OperationOutcomeError.of(406, 'not-supported', `Cannot produce ${accept}; this server answers application/fhir+json`);
  }
}

/** A body must be FHIR JSON. */
export function requireJsonBody(req: Request): void {
  const type = req.headers['content-type'];
  if (!type) throw OperationOutcomeError.of(415, 'not-supported', 'Content-Type is required: send application/fhir+json');
  if (!req.is(JSON_TYPES)) throw OperationOutcomeError.of(415, 'not-supported', `Unsupported Content-Type ${type}; send application/fhir+json`);
}

export function requireResourceType(type: string): void {
  if (!isResourceType(type)) throw OperationOutcomeError.of(404, 'not-supported', `Unknown resource type "${type}"`);
}

export interface VersionHeaders {
  versionId: number;
  lastUpdated: Date;
}

export function setVersionHeaders(res: Response, v: VersionHeaders): void {
  res.setHeader('ETag', `W/"${v.versionId}"`);
  res.setHeader('Last-Modified', v.lastUpdated.toUTCString());
}

/** Sends JSON text as it is (stored resources are served without re-serialising them). */
export function sendJson(res: Response, status: number, json: string): void {
  res.status(status).type(FHIR_JSON).send(json);
}

/** The representation the client asked for with `Prefer: return=...`. */
export function preferredReturn(req: Request): 'minimal' | 'representation' | 'OperationOutcome' {
  const prefer = req.headers.prefer;
  const m = typeof prefer === 'string' ? /return=(minimal|representation|OperationOutcome)/i.exec(prefer) : null;
  if (!m) return 'representation';
  const v = m[1].toLowerCase();
  return v === 'minimal' ? 'minimal' : v === 'operationoutcome' ? 'OperationOutcome' : 'representation';
}
