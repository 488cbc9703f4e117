import type { Request, Response } from 'express';
import type { Binary } from '@medplum/fhirtypes';
import { JSON_TYPES, XML_TYPES } from './fhir-http';

/** Content types that carry a FHIR resource (or a form); any other body sent to Binary is the Binary's content (binary.html). */
const RESOURCE_BODY_TYPES = [...JSON_TYPES, ...XML_TYPES, 'application/json-patch+json', 'application/x-www-form-urlencoded'];

/** Whether a request body is raw content for a Binary: a Content-Type is given and it is not a FHIR one. */
export function isNativeBinaryBody(req: Request): boolean {
  return !!req.headers['content-type'] && !req.is(RESOURCE_BODY_TYPES);
}

/**
 * Whether a read of a Binary should answer its content rather than the resource (binary.html): no
 * `_format`, and an Accept that names neither a FHIR format nor its generic JSON/XML types (a bare
 * `*` / `*` or no Accept still gets the resource, as before).
 */
export function wantsNativeBinary(req: Request): boolean {
  if (req.query._format !== undefined) return false;
  const accept = req.headers.accept?.trim();
  if (!accept) return false;
  const ranges = accept.split(',').map((r) => r.split(';')[0].trim().toLowerCase()).filter(Boolean);
  if (ranges.every((r) => r === '*/*')) return false;
  return !ranges.some((r) => JSON_TYPES.includes(r) || XML_TYPES.includes(r));
}

/** The Binary a raw body makes: its Content-Type as contentType, the bytes as data, `X-Security-Context` as securityContext. */
export function binaryFromBody(req: Request, body: Buffer, id?: string): Binary {
  const securityContext = req.headers['x-security-context'];
  return {
    resourceType: 'Binary',
    ...(id ? { id } : {}),
    contentType: String(req.headers['content-type']).trim(),
    ...(body.length ? { data: body.toString('base64') } : {}),
    ...(typeof securityContext === 'string' && securityContext.trim() ? { securityContext: { reference: securityContext.trim() } } : {}),
  };
}

/**
 * Sends a Binary's bytes with its contentType. Stored content may be HTML or script: `nosniff`, a
 * sandboxing CSP and `attachment` keep a browser from running it in the server's origin.
 */
export function sendNativeBinary(res: Response, binary: Binary): void {
  const bytes = binary.data ? Buffer.from(binary.data, 'base64') : Buffer.alloc(0);
  res.status(200);
  try {
    res.setHeader('Content-Type', binary.contentType || 'application/octet-stream');
  } catch {
    res.setHeader('Content-Type', 'application/octet-stream'); // a contentType that is no valid header value
  }
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Security-Policy', 'sandbox');
  res.setHeader('Content-Disposition', 'attachment');
  if (binary.securityContext?.reference) res.setHeader('X-Security-Context', binary.securityContext.reference);
  res.setHeader('Content-Length', bytes.length);
  if ((res.req as Request).method === 'HEAD') res.end();
  else res.end(bytes);
}
