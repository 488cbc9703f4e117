import { isResourceType } from '../../fhir/definitions/fhir-definitions';
import { badRequest } from '../../fhir/operation-outcome';
import type { ConnectionAuth } from '../remote-fhir.client';
import type { ConnectionChanges } from './connection-settings.repository';

/** A new connection as the administrator asked for it, checked. */
export interface ConnectionInput {
  name: string;
  baseUrl: string;
  auth: ConnectionAuth;
  /** What a pull fetches; null: what the remote can search. */
  resourceTypes: string[] | null;
  /** How often a scheduled pull runs; null: only on demand. */
  syncIntervalSeconds: number | null;
}

/** What a PATCH changes (JSON merge: absent = unchanged, null = removed where a field may be empty): the columns the repository changes. */
export type ConnectionPatch = ConnectionChanges;

export const MIN_SYNC_INTERVAL_SECONDS = 60;
/** A year: anything longer is a typo rather than a schedule. */
export const MAX_SYNC_INTERVAL_SECONDS = 366 * 24 * 3600;

const NEW_FIELDS = ['name', 'baseUrl', 'auth', 'resourceTypes', 'syncIntervalSeconds'];
const PATCH_FIELDS = [...NEW_FIELDS, 'status'];
const AUTH_FIELDS: Record<ConnectionAuth['type'], string[]> = {
  none: ['type'],
  bearer: ['type', 'token'],
  client_credentials: ['type', 'tokenUrl', 'clientId', 'clientSecret', 'scope'],
};
/** Printable ASCII without spaces: what may travel in an Authorization header or a form field untouched. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/**
 * The body of `POST /api/connections`, checked: every refusal is a 400 OperationOutcome whose
 * expression names the field. Secrets are never quoted back in a message. Pure.
 */
export function parseNewConnection(body: unknown): ConnectionInput {
  const o = objectBody(body);
  refuseUnknown(o, NEW_FIELDS, '');
  if (o.name === undefined) throw badRequest('name is required', ['name']);
  if (o.baseUrl === undefined) throw badRequest('baseUrl is required (the remote FHIR R4 base URL, e.g. https://ehr.example.org/fhir)', ['baseUrl']);
  if (o.auth === undefined) throw badRequest('auth is required: {"type": "none"}, {"type": "bearer", "token"} or {"type": "client_credentials", "tokenUrl", "clientId", "clientSecret", "scope"?}', ['auth']);
  return {
    name: nameOf(o.name),
    baseUrl: baseUrlOf(o.baseUrl),
    auth: authOf(o.auth),
    resourceTypes: resourceTypesOf(o.resourceTypes),
    syncIntervalSeconds: intervalOf(o.syncIntervalSeconds),
  };
}

/** The body of `PATCH /api/connections/{id}` (a JSON merge patch), checked. Pure. */
export function parseConnectionPatch(body: unknown): ConnectionPatch {
  const o = objectBody(body);
  refuseUnknown(o, PATCH_FIELDS, '');
  const patch: ConnectionPatch = {};
  for (const field of ['name', 'baseUrl', 'auth', 'status'] as const) {
    if (o[field] === null) throw badRequest(`${field} cannot be removed`, [field]);
  }
  if (o.name !== undefined) patch.name = nameOf(o.name);
  if (o.baseUrl !== undefined) patch.baseUrl = baseUrlOf(o.baseUrl);
  if (o.auth !== undefined) patch.auth = authOf(o.auth);
  if (o.resourceTypes !== undefined) patch.resourceTypes = resourceTypesOf(o.resourceTypes);
  if (o.syncIntervalSeconds !== undefined) patch.syncIntervalSeconds = intervalOf(o.syncIntervalSeconds);
  if (o.status !== undefined) {
    if (o.status !== 'active' && o.status !== 'off') throw badRequest('status must be "active" or "off"', ['status']);
    patch.status = o.status;
  }
  return patch;
}

/**
 * An absolute http(s) URL without credentials or fragment, normalised by the WHATWG URL parser
 * (lower-case scheme and host, default port dropped) and without trailing slashes, so the same
 * server is always named the same way (the base URL is the identifier system of pulled resources).
 */
export function absoluteHttpUrl(value: unknown, field: string, options: { query: boolean }): string {
  if (typeof value !== 'string' || !value.trim()) throw badRequest(`${field} must be an absolute http(s) URL`, [field]);
  if (value.length > 2000) throw badRequest(`${field} is longer than 2000 characters`, [field]);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw badRequest(`${field} must be an absolute http(s) URL`, [field]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest(`${field} must be an http or https URL, not ${url.protocol.replace(/:$/, '')}`, [field]);
  // Never quote the URL back here: it carries the credentials being refused.
  if (url.username || url.password) throw badRequest(`${field} must not carry credentials (user:password@); put them in auth`, [field]);
  if (value.includes('#')) throw badRequest(`${field} must not have a fragment (#...)`, [field]);
  if (!options.query && value.includes('?')) throw badRequest(`${field} must not have a query (?...): it is the FHIR base URL`, [field]);
  return url.toString().replace(/\/+$/, '');
}

function objectBody(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The body must be a JSON object (Content-Type: application/json)');
  }
  return body as Record<string, unknown>;
}

function refuseUnknown(o: Record<string, unknown>, known: string[], prefix: string): void {
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length) {
    throw badRequest(`Unknown field(s) ${unknown.map((k) => `${prefix}${k}`).join(', ')}; known: ${known.join(', ')}`, unknown.map((k) => `${prefix}${k}`));
  }
}

function nameOf(value: unknown): string {
  if (typeof value !== 'string' || !value.trim()) throw badRequest('name must be a non-empty string', ['name']);
  const name = value.trim();
  if (name.length > 200) throw badRequest('name is longer than 200 characters', ['name']);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw badRequest('name must not contain control characters', ['name']);
  return name;
}

function baseUrlOf(value: unknown): string {
  return absoluteHttpUrl(value, 'baseUrl', { query: false });
}

function authOf(value: unknown): ConnectionAuth {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest('auth must be an object with a type', ['auth']);
  const a = value as Record<string, unknown>;
  const type = a.type;
  if (type !== 'none' && type !== 'bearer' && type !== 'client_credentials') {
    throw badRequest('auth.type must be one of none, bearer, client_credentials', ['auth.type']);
  }
  refuseUnknown(a, AUTH_FIELDS[type], 'auth.');
  if (type === 'none') return { type };
  if (type === 'bearer') return { type, token: secretOf(a.token, 'auth.token') };
  const clientId = a.clientId;
  const tokenUrl = absoluteHttpUrl(a.tokenUrl, 'auth.tokenUrl', { query: true });
  if (typeof clientId !== 'string' || !clientId) throw badRequest('auth.clientId must be a non-empty string', ['auth.clientId']);
  if (clientId.length > 500 || !HEADER_SAFE.test(clientId)) throw badRequest('auth.clientId must be at most 500 printable characters without spaces', ['auth.clientId']);
  const clientSecret = secretOf(a.clientSecret, 'auth.clientSecret');
  let scope: string | undefined;
  if (a.scope !== undefined && a.scope !== null) {
    if (typeof a.scope !== 'string' || !a.scope.trim() || a.scope.length > 1000 || !/^[\x20-\x7e]+$/.test(a.scope)) {
      throw badRequest('auth.scope must be a non-empty string of at most 1000 printable characters (space-separated scopes)', ['auth.scope']);
    }
    scope = a.scope.trim();
  }
  return { type, tokenUrl, clientId, clientSecret, ...(scope ? { scope } : {}) };
}

/** A bearer token or client secret; the messages say what is wrong with it without showing it. */
function secretOf(value: unknown, field: string): string {
  if (typeof value !== 'string' || !value) throw badRequest(`${field} must be a non-empty string`, [field]);
  if (value.length > 4096) throw badRequest(`${field} is longer than 4096 characters`, [field]);
  if (!HEADER_SAFE.test(value)) throw badRequest(`${field} must be printable ASCII without spaces or control characters`, [field]);
  return value;
}

function resourceTypesOf(value: unknown): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || value.length === 0) {
    throw badRequest('resourceTypes must be a non-empty array of R4 resource type names (leave it out to pull what the remote can search)', ['resourceTypes']);
  }
  const types: string[] = [];
  value.forEach((t, i) => {
    if (typeof t !== 'string' || !isResourceType(t)) {
      throw badRequest(`resourceTypes[${i}] (${JSON.stringify(t)?.slice(0, 80)}) is not an R4 resource type`, [`resourceTypes[${i}]`]);
    }
    if (!types.includes(t)) types.push(t);
  });
  return types;
}

function intervalOf(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_SYNC_INTERVAL_SECONDS || value > MAX_SYNC_INTERVAL_SECONDS) {
    throw badRequest(`syncIntervalSeconds must be a whole number of seconds from ${MIN_SYNC_INTERVAL_SECONDS} to ${MAX_SYNC_INTERVAL_SECONDS}`, ['syncIntervalSeconds']);
  }
  return value;
}
