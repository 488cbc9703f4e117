import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { OperationOutcomeError } from '../fhir/operation-outcome';
import { parseFhirBody } from '../fhir/json/fhir-body';
import { xmlToResource } from '../fhir/rest/fhir-xml';

export const JSON_BODY_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir', 'application/json-patch+json'];
export const XML_BODY_TYPES = ['application/fhir+xml', 'application/xml', 'text/xml', 'application/xml+fhir'];

/**
 * The body parsers of JSON and XML bodies. Both are read as text (body-parser: limits, content
 * encodings, charsets) after their bytes are checked: UTF-8 that is not valid is refused rather
 * than decoded into U+FFFD replacement characters. JSON is then parsed keeping decimal lexemes
 * (parseFhirBody); FHIR XML is turned into its JSON form here, so everything after sees one format.
 */
export function fhirBodyParsers(limit: number): RequestHandler[] {
  return [
    express.text({ type: JSON_BODY_TYPES, limit, defaultCharset: 'utf-8', verify: checkBytes(true) }),
    express.text({ type: XML_BODY_TYPES, limit, defaultCharset: 'utf-8', verify: checkBytes(false) }),
    parseBodies,
  ];
}

function checkBytes(json: boolean) {
  return (_req: IncomingMessage, _res: unknown, buf: Buffer, encoding: string): void => {
    const charset = encoding.toLowerCase();
    // JSON is UTF-8, -16 or -32 (RFC 8259 / 7159), as body-parser's JSON parser required.
    if (json && !charset.startsWith('utf-')) throw Object.assign(new Error(`Unsupported charset "${encoding}"`), { status: 415, type: 'charset.unsupported' });
    if ((charset === 'utf-8' || charset === 'utf8') && !isUtf8(buf)) {
      throw OperationOutcomeError.of(400, 'structure', 'The body is not valid UTF-8');
    }
  };
}

function parseBodies(req: Request, _res: Response, next: NextFunction): void {
  if (typeof req.body !== 'string') return next();
  try {
    if (req.is(JSON_BODY_TYPES)) req.body = req.body === '' ? {} : parseFhirBody(req.body);
    else if (req.is(XML_BODY_TYPES)) req.body = xmlToResource(req.body);
    next();
  } catch (e) {
    // Reported as body-parser reports malformed JSON (OperationOutcomeFilter).
    if (e instanceof SyntaxError) next(Object.assign(e, { status: 400, type: 'entity.parse.failed' }));
    else next(e);
  }
}
