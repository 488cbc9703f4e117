import request from 'supertest';
import type { App } from 'supertest/types';
import type { TestApp } from './test-app';

export const FHIR_JSON = 'application/fhir+json';

type Json = Record<string, unknown>;

/**
 * An authenticated supertest wrapper for the FHIR API of a test app, addressed by path (fhir-api.ts
 * has the resource-centred one), made for raw requests: bodies are sent exactly as given (objects
 * are stringified, strings go as they are, so malformed JSON can be sent too) with any content type,
 * and the token can be swapped or left out. Every call returns a supertest Test, so headers can
 * still be added.
 */
export class FhirRequest {
  constructor(
    readonly server: App,
    private readonly token: string | undefined,
  ) {}

  static of(t: TestApp, token: string | undefined = t.token): FhirRequest {
    return new FhirRequest(t.app.getHttpServer(), token);
  }

  /** The same API without credentials. */
  anonymous(): FhirRequest {
    return new FhirRequest(this.server, undefined);
  }

  get(path: string): request.Test {
    return this.auth(request(this.server).get(fhirPath(path)));
  }

  delete(path: string): request.Test {
    return this.auth(request(this.server).delete(fhirPath(path)));
  }

  post(path: string, body: unknown, contentType = FHIR_JSON): request.Test {
    return this.auth(request(this.server).post(fhirPath(path))).set('Content-Type', contentType).send(text(body));
  }

  put(path: string, body: unknown, contentType = FHIR_JSON): request.Test {
    return this.auth(request(this.server).put(fhirPath(path))).set('Content-Type', contentType).send(text(body));
  }

  patch(path: string, body: unknown, contentType = 'application/json-patch+json'): request.Test {
    return this.auth(request(this.server).patch(fhirPath(path))).set('Content-Type', contentType).send(text(body));
  }

  /** Total of a history Bundle (instance, type or system level: `Patient/x`, `Patient` or ``). */
  async historyTotal(path = ''): Promise<number> {
    const res = await this.get(`${path ? `${path}/` : ''}_history?_count=0`);
    if (res.status !== 200) throw new Error(`history of ${path || 'system'} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body.total as number;
  }

  /**
   * Makes sure every local Patient/Practitioner reference in a resource points to something that
   * exists (the server checks those from its projected types): the missing ones are created with
   * PUT under the referenced id.
   */
  async ensureReferenced(resource: unknown): Promise<void> {
    for (const ref of localReferences(resource)) {
      const [type, id] = ref.split('/');
      if (type !== 'Patient' && type !== 'Practitioner') continue;
      const found = await this.get(`${type}/${id}`);
      if (found.status === 200) continue;
      const body = { resourceType: type, id, active: true, name: [{ family: `Referenced-${id}` }] };
      const put = await this.put(`${type}/${id}`, body);
      if (put.status !== 201 && put.status !== 200) throw new Error(`could not create ${ref}: ${put.status} ${JSON.stringify(put.body)}`);
    }
  }

  private auth(req: request.Test): request.Test {
    return this.token ? req.set('Authorization', `Bearer ${this.token}`) : req;
  }
}

function fhirPath(path: string): string {
  return path.startsWith('/') ? path : `/fhir/${path}`;
}

function text(body: unknown): string {
  return typeof body === 'string' ? body : JSON.stringify(body);
}

/** Every `Type/id` reference in a resource (not contained, urn or absolute ones). */
export function localReferences(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) localReferences(v, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Json)) {
      if (k === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(v)) out.add(v);
      else localReferences(v, out);
    }
  }
  return out;
}

/** A resource without what the server owns: id, meta.versionId and meta.lastUpdated (and meta if nothing else is left). */
export function withoutServerFields<T>(resource: T): T {
  const { id: _id, meta, ...rest } = structuredClone(resource) as Json & { meta?: Json };
  if (meta) {
    const { versionId: _v, lastUpdated: _l, ...clientMeta } = meta;
    if (Object.keys(clientMeta).length) (rest as Json).meta = clientMeta;
  }
  return rest as T;
}

/** Asserts that a response is an OperationOutcome with the given status and an error first issue. */
export function expectOutcome(res: request.Response, status: number, expression?: string | RegExp): Json {
  expect({ status: res.status, body: res.body }).toMatchObject({ status, body: { resourceType: 'OperationOutcome' } });
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  const issues = res.body.issue as Array<{ severity: string; expression?: string[] }>;
  expect(issues.length).toBeGreaterThan(0);
  if (status >= 400) expect(issues[0].severity).toMatch(/^(error|fatal)$/);
  if (expression !== undefined) {
    const paths = issues.flatMap((i) => i.expression ?? []);
    const matches = (p: string) => (typeof expression === 'string' ? p === expression : expression.test(p));
    if (!paths.some(matches)) throw new Error(`no issue names ${String(expression)}; issues: ${JSON.stringify(issues)}`);
  }
  return res.body as Json;
}

/** Path and query of an absolute link from a Bundle, to follow it with supertest. */
export function linkPath(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}
