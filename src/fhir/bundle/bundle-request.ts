import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { isResourceType } from '../definitions/fhir-definitions';
import { FHIR_ID } from '../definitions/resource-validator';
import { OperationOutcomeError, badRequest } from '../operation-outcome';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A bundle entry's request, parsed: which interaction on which target. */
export interface ParsedEntry {
  index: number;
  method: Method;
  resourceType: string;
  id?: string;
  versionId?: string;
  /** Conditional criteria (`Type?criteria`) or search parameters for GET. */
  criteria?: string;
  fullUrl?: string;
  resource?: Resource;
  ifNoneExist?: string;
  ifMatch?: string;
  /** GET by id: the client's copy (conditional read); 304 when it is current. */
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  /** A batch entry that could not be parsed: answered with this, alone (a transaction is refused whole instead). */
  invalid?: OperationOutcomeError;
}

export interface BundleLimits {
  maxEntries: number;
}

const METHODS = new Set<Method>(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** Checks the envelope of a batch or transaction Bundle and parses each entry's request. Pure. */
export function parseBundle(body: unknown, fhirBase: string, limits: BundleLimits): { type: 'batch' | 'transaction'; entries: ParsedEntry[] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || (body as Resource).resourceType !== 'Bundle') {
    throw badRequest('POST /fhir takes a Bundle of type batch or transaction', ['resourceType']);
  }
  const bundle = body as Bundle;
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    throw badRequest(`Bundle.type must be batch or transaction, got ${JSON.stringify(bundle.type ?? null)}`, ['Bundle.type']);
  }
  const raw = bundle.entry ?? [];
  if (!Array.isArray(raw)) throw badRequest('Bundle.entry must be an array', ['Bundle.entry']);
  if (raw.length > limits.maxEntries) {
    throw OperationOutcomeError.of(413, 'too-costly', `The Bundle has ${raw.length} entries; the limit is ${limits.maxEntries} (MAX_BUNDLE_ENTRIES)`, ['Bundle.entry']);
  }
  const seenFullUrls = new Map<string, number>();
  const entries = raw.map((entry, index): ParsedEntry => {
    let parsed: ParsedEntry;
    try {
      parsed = parseEntry(entry, index, fhirBase);
    } catch (err) {
      // The entries of a batch stand alone (R4 3.1.0.11.1): a malformed one is answered by itself.
      if (bundle.type !== 'batch' || !(err instanceof OperationOutcomeError)) throw err;
      return { index, method: 'GET', resourceType: 'Bundle', invalid: err };
    }
    if (parsed.fullUrl) {
      const previous = seenFullUrls.get(parsed.fullUrl);
      if (previous !== undefined) {
        throw badRequest(`Bundle.entry[${index}].fullUrl ${parsed.fullUrl} repeats entry ${previous}'s`, [`Bundle.entry[${index}].fullUrl`]);
      }
      seenFullUrls.set(parsed.fullUrl, index);
    }
    return parsed;
  });
  return { type: bundle.type, entries };
}

function parseEntry(entry: BundleEntry, index: number, fhirBase: string): ParsedEntry {
  const at = `Bundle.entry[${index}]`;
  if (!entry || typeof entry !== 'object') throw badRequest(`${at} is not an object`, [at]);
  const request = entry.request;
  if (!request || typeof request !== 'object') throw badRequest(`${at}.request is missing`, [`${at}.request`]);
  const method = String(request.method ?? '').toUpperCase() as Method;
  if (!METHODS.has(method)) throw badRequest(`${at}.request.method must be GET, HEAD, POST, PUT, PATCH or DELETE`, [`${at}.request.method`]);
  if (typeof request.url !== 'string' || !request.url) throw badRequest(`${at}.request.url is missing`, [`${at}.request.url`]);
  const target = parseUrl(request.url, fhirBase, at);
  const parsed: ParsedEntry = { index, method, ...target };
  if (entry.fullUrl !== undefined) {
    if (typeof entry.fullUrl !== 'string' || !entry.fullUrl) throw badRequest(`${at}.fullUrl must be a URI`, [`${at}.fullUrl`]);
    parsed.fullUrl = entry.fullUrl;
  }
  if (typeof request.ifNoneExist === 'string') parsed.ifNoneExist = request.ifNoneExist.replace(/^[^?]*\?/, '');
  if (typeof request.ifMatch === 'string') parsed.ifMatch = request.ifMatch;
  if (typeof request.ifNoneMatch === 'string') parsed.ifNoneMatch = request.ifNoneMatch;
  if (typeof request.ifModifiedSince === 'string') parsed.ifModifiedSince = request.ifModifiedSince;

  if (method === 'POST' || method === 'PUT') {
    if (!entry.resource || typeof entry.resource !== 'object') throw badRequest(`${at}.resource is required for ${method}`, [`${at}.resource`]);
    if (entry.resource.resourceType !== target.resourceType) {
      throw badRequest(`${at}.resource is a ${String(entry.resource.resourceType)} but the request URL names ${target.resourceType}`, [`${at}.resource.resourceType`]);
    }
    parsed.resource = entry.resource;
  }
  if (method === 'PATCH') {
    if (!entry.resource || typeof entry.resource !== 'object') throw badRequest(`${at}.resource must hold the patch (a Binary or Parameters)`, [`${at}.resource`]);
    parsed.resource = entry.resource;
  }
  if (method === 'POST' && (target.id || target.criteria)) throw badRequest(`${at}.request.url for POST must be a resource type`, [`${at}.request.url`]);
  if ((method === 'PUT' || method === 'PATCH' || method === 'DELETE') && !target.id && target.criteria === undefined) {
    throw badRequest(`${at}.request.url for ${method} must name a resource (Type/id) or conditional criteria (Type?...)`, [`${at}.request.url`]);
  }
  if (method === 'PUT' && target.id && parsed.resource?.id !== undefined && parsed.resource.id !== target.id) {
    throw badRequest(`${at}.resource.id ${parsed.resource.id} does not match the request URL ${request.url}`, [`${at}.resource.id`]);
  }
  return parsed;
}

/** `Type`, `Type/id`, `Type/id/_history/v`, `Type?criteria`, relative or under this server's base. */
function parseUrl(url: string, fhirBase: string, at: string): Pick<ParsedEntry, 'resourceType' | 'id' | 'versionId' | 'criteria'> {
  let rel = url.startsWith(fhirBase + '/') ? url.slice(fhirBase.length + 1) : url;
  if (/^[a-z]+:\/\//i.test(rel)) throw badRequest(`${at}.request.url ${url} is not on this server`, [`${at}.request.url`]);
  rel = rel.replace(/^\/+/, '');
  const q = rel.indexOf('?');
  const path = q >= 0 ? rel.slice(0, q) : rel;
  const criteria = q >= 0 ? rel.slice(q + 1) : undefined;
  const parts = path.split('/').filter(Boolean);
  const [resourceType, id, history, versionId] = parts;
  const unsupported = unsupportedInteraction(parts, criteria);
  if (unsupported) throw OperationOutcomeError.of(400, 'not-supported', `${at}.request.url ${url}: ${unsupported} is not supported in bundle entries (read, vread, type-level search and writes are)`, [`${at}.request.url`]);
  if (!resourceType || !isResourceType(resourceType)) throw badRequest(`${at}.request.url ${url} does not name a resource type`, [`${at}.request.url`]);
  if ([id, history, versionId].some((p) => p?.startsWith('$'))) {
    throw OperationOutcomeError.of(400, 'not-supported', `${at}.request.url ${url}: operations are not supported in bundle entries`, [`${at}.request.url`]);
  }
  if (id !== undefined && !FHIR_ID.test(id)) throw badRequest(`${at}.request.url has an invalid id "${id}"`, [`${at}.request.url`]);
  if (parts.length > 4 || (history !== undefined && (history !== '_history' || !versionId))) {
    throw badRequest(`${at}.request.url ${url} is not a supported interaction`, [`${at}.request.url`]);
  }
  return { resourceType, id, versionId, criteria };
}

/**
 * History, capabilities, system-level and compartment searches are interactions R4 allows in a
 * batch, but this server runs only reads, vreads, type-level searches and writes there: which one
 * a URL asks for, to say so. Pure.
 */
function unsupportedInteraction(parts: string[], criteria: string | undefined): string | undefined {
  const [first, id, third, versionId] = parts;
  if (first === undefined) return criteria !== undefined ? 'a system-level search' : undefined;
  if (first === '_history' || first === 'metadata') return first;
  if (id === '_history' || (third === '_history' && versionId === undefined)) return 'history';
  if (first === 'Patient' && id !== undefined && third !== undefined && third !== '_history' && !third.startsWith('$')) return 'a compartment search';
  return undefined;
}
