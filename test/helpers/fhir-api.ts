import request, { type Response } from 'supertest';
import type { TestApp } from './test-app';

export const FHIR_JSON = 'application/fhir+json';

/** A FHIR resource as the tests handle it: loosely typed JSON. */
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * FHIR REST calls through supertest against a TestApp, authenticated with its bootstrap client's
 * token. Each call resolves to the raw supertest Response; `expectStatus` turns an unexpected status
 * into an error that shows the OperationOutcome.
 */
export class FhirApi {
  constructor(private readonly t: TestApp) {}

  private get server() {
    return this.t.app.getHttpServer();
  }

  private auth(r: request.Test): request.Test {
    return r.set('Authorization', `Bearer ${this.t.token}`).set('Accept', FHIR_JSON);
  }

  create(resource: Json): request.Test {
    return this.auth(request(this.server).post(`/fhir/${resource.resourceType}`)).set('Content-Type', FHIR_JSON).send(JSON.stringify(resource));
  }

  /** POST [base]: a transaction or batch Bundle. */
  bundle(bundle: Json): request.Test {
    return this.auth(request(this.server).post('/fhir')).set('Content-Type', FHIR_JSON).send(JSON.stringify(bundle));
  }

  /** PUT [type]/[id] with the resource's own type and id (update, or update-as-create). */
  update(resource: Json, headers: Record<string, string> = {}): request.Test {
    let r = this.auth(request(this.server).put(`/fhir/${resource.resourceType}/${resource.id}`)).set('Content-Type', FHIR_JSON);
    for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
    return r.send(JSON.stringify(resource));
  }

  /** GET [type]?params (a search). */
  search(type: string, params: Record<string, string>): request.Test {
    return this.auth(request(this.server).get(`/fhir/${type}`).query(params));
  }

  read(type: string, id: string): request.Test {
    return this.auth(request(this.server).get(`/fhir/${type}/${id}`));
  }

  vread(type: string, id: string, version: number | string): request.Test {
    return this.auth(request(this.server).get(`/fhir/${type}/${id}/_history/${version}`));
  }

  history(type: string, id?: string): request.Test {
    return this.auth(request(this.server).get(id ? `/fhir/${type}/${id}/_history` : `/fhir/${type}/_history`));
  }

  delete(type: string, id: string): request.Test {
    return this.auth(request(this.server).delete(`/fhir/${type}/${id}`));
  }

  /** Creates (POST) and returns the stored resource; fails the test with the server's answer otherwise. */
  async created(resource: Json): Promise<Json> {
    return expectStatus(await this.create(resource), 201).body;
  }

  /** Updates (PUT) and returns the stored resource; fails unless the status is 200 (or 201 when `status` says so). */
  async updated(resource: Json, status: 200 | 201 = 200): Promise<Json> {
    return expectStatus(await this.update(resource), status).body;
  }
}

/** Asserts the status, showing the body (usually an OperationOutcome) when it differs. */
export function expectStatus(res: Response, status: number): Response {
  if (res.status !== status) {
    throw new Error(`expected HTTP ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return res;
}

/** The diagnostics and details text of every issue of an OperationOutcome, joined. */
export function outcomeText(body: Json): string {
  expectOperationOutcome(body);
  return (body.issue as Json[]).map((i) => [i.diagnostics, i.details?.text, ...(i.expression ?? [])].filter(Boolean).join(' ')).join('\n');
}

export function expectOperationOutcome(body: Json): void {
  if (body?.resourceType !== 'OperationOutcome' || !Array.isArray(body.issue) || !body.issue.length) {
    throw new Error(`expected an OperationOutcome with issues, got ${JSON.stringify(body)}`);
  }
}
