import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { ApiProcess } from './api-process';
import type { Json } from './fhir-api';
import { freePort } from './redis-server';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET } from './test-app';
import { createTestDatabase, testQueuePrefix, type TestDatabase } from './test-database';
import { waitFor } from './wait-for';
import { WorkerProcess, ownProcessEnv, type TestBuild } from './worker-process';

/**
 * The pieces of the two-instance exchange suite: the local instance (its API and its worker as
 * real separate processes on a database of their own), the administrators' connections API of
 * that instance, and a misbehaving remote (500s, no answer, invalid resources).
 */

/** The local instance: one API process, one worker process (replaceable), one database. */
export class LocalInstance {
  worker: WorkerProcess;
  private retired: WorkerProcess[] = [];

  private constructor(
    readonly build: TestBuild,
    readonly db: TestDatabase,
    readonly env: NodeJS.ProcessEnv,
    readonly api: ApiProcess,
    public token: string,
  ) {
    this.worker = new WorkerProcess(build, env);
  }

  static async start(build: TestBuild, extraEnv: Record<string, string> = {}): Promise<LocalInstance> {
    const db = await createTestDatabase();
    const env = ownProcessEnv(db.url, extraEnv);
    const api = new ApiProcess(build, env, await freePort());
    const local = new LocalInstance(build, db, env, api, '');
    try {
      await Promise.all([api.started, local.worker.started]);
      local.token = await tokenFor(api.baseUrl, TEST_CLIENT_ID, TEST_CLIENT_SECRET);
    } catch (e) {
      await local.close();
      throw e;
    }
    return local;
  }

  get baseUrl(): string {
    return this.api.baseUrl;
  }

  /** Kills the worker process the hard way and starts a new one; resolves once it has started. */
  async replaceWorker(): Promise<{ killed: { code: number | null; signal: NodeJS.Signals | null } }> {
    const old = this.worker;
    const killed = await old.kill('SIGKILL');
    this.retired.push(old);
    this.worker = new WorkerProcess(this.build, this.env);
    await this.worker.started;
    return { killed };
  }

  /** The warnings and errors of the processes' logs (pino level >= 40), for failure messages. */
  logs(): string {
    const serious = (out: string) =>
      out
        .split('\n')
        .filter((l) => /"level":(4|5|6)0/.test(l) || /Error|error/.test(l))
        .slice(-15)
        .map((l) => l.slice(0, 1500))
        .join('\n');
    return `--- API (warnings, errors) ---\n${serious(this.api.output)}\n--- worker (warnings, errors) ---\n${serious(this.worker.output)}`;
  }

  async close(): Promise<void> {
    await Promise.all([this.api.stop(), this.worker.kill('SIGTERM'), ...this.retired.map((w) => w.kill('SIGKILL'))]);
    await this.db.drop();
  }
}

export async function tokenFor(baseUrl: string, clientId: string, secret: string): Promise<string> {
  const res = await request(baseUrl).post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret });
  if (res.status !== 200) throw new Error(`token request to ${baseUrl} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** The administrators' connections API of an instance, over HTTP. */
export class ConnectionsApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: () => string,
  ) {}

  private auth(r: request.Test): request.Test {
    return r.set('Authorization', `Bearer ${this.token()}`).set('Accept', 'application/json');
  }

  create(body: Json): request.Test {
    return this.auth(request(this.baseUrl).post('/api/connections')).set('Content-Type', 'application/json').send(JSON.stringify(body));
  }

  get(id: string): request.Test {
    return this.auth(request(this.baseUrl).get(`/api/connections/${id}`));
  }

  check(id: string): request.Test {
    return this.auth(request(this.baseUrl).post(`/api/connections/${id}/check`));
  }

  sync(id: string): request.Test {
    return this.auth(request(this.baseUrl).post(`/api/connections/${id}/sync`));
  }

  run(id: string, runId: string | number): request.Test {
    return this.auth(request(this.baseUrl).get(`/api/connections/${id}/syncs/${runId}`));
  }

  deadLetters(id: string): request.Test {
    return this.auth(request(this.baseUrl).get(`/api/connections/${id}/dead-letters`));
  }

  /** Creates a connection; its id. */
  async created(body: Json): Promise<string> {
    const res = await this.create(body);
    if (res.status !== 201 && res.status !== 200) throw new Error(`POST /api/connections answered ${res.status}: ${JSON.stringify(res.body)}`);
    const id = res.body?.id;
    if (typeof id !== 'string' && typeof id !== 'number') throw new Error(`POST /api/connections answered no id: ${JSON.stringify(res.body)}`);
    return String(id);
  }

  /** Starts a sync (202); its run id. */
  async startSync(id: string): Promise<string> {
    const res = await this.sync(id);
    if (res.status !== 202) throw new Error(`POST /api/connections/${id}/sync answered ${res.status}: ${JSON.stringify(res.body)}`);
    const runId = res.body?.runId;
    if (runId === undefined || runId === null) throw new Error(`POST /api/connections/${id}/sync answered no runId: ${JSON.stringify(res.body)}`);
    return String(runId);
  }

  async runNow(id: string, runId: string): Promise<Json> {
    const res = await this.run(id, runId);
    if (res.status !== 200) throw new Error(`GET /api/connections/${id}/syncs/${runId} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as Json;
  }

  /** Waits until the run is in one of the final states, and returns it. */
  async finished(id: string, runId: string, timeoutMs: number, logs?: () => string): Promise<Json> {
    let last: Json | undefined;
    try {
      return await waitFor(
        `sync run ${runId} of connection ${id} to finish`,
        async () => {
          last = await this.runNow(id, runId);
          return last.status === 'succeeded' || last.status === 'failed' ? last : undefined;
        },
        timeoutMs,
        250,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}; last seen: ${JSON.stringify(last)}${logs ? `\n${logs()}` : ''}`);
    }
  }
}

/** How a misbehaving remote answers. */
export type RemoteMisbehaviour = '500' | 'hang' | 'invalid';

/**
 * A tiny HTTP server posing as a FHIR server that misbehaves: answers every request with a 500
 * and an OperationOutcome, never answers, or ('invalid') answers a well-formed CapabilityStatement
 * and search Bundles in which one Patient is valid and one Observation is not, and accepts
 * transactions (recorded, each entry answered 201). It records every request; its mode can be
 * switched while it runs.
 */
export class MisbehavingRemote {
  readonly requests: string[] = [];
  /** The transaction Bundles it accepted. */
  readonly transactions: Json[] = [];
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    public mode: RemoteMisbehaviour,
  ) {}

  static async start(mode: RemoteMisbehaviour): Promise<MisbehavingRemote> {
    let remote: MisbehavingRemote | undefined;
    const server = createServer((req, res) => remote?.handle(req, res));
    remote = new MisbehavingRemote(server, mode);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return remote;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The FHIR base URL. */
  get baseUrl(): string {
    return `${this.origin}/fhir`;
  }

  /** How many requests had this path (without the query). */
  count(path: string): number {
    return this.requests.filter((r) => r.split('?')[0] === path).length;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.answer(req, Buffer.concat(chunks).toString('utf8'), res));
  }

  private answer(req: IncomingMessage, body: string, res: ServerResponse): void {
    if (this.mode === 'hang') {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if (this.mode === '500') {
      send(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: 'the remote is broken (test)' }] });
      return;
    }
    const url = new URL(req.url ?? '/', this.origin);
    if (url.pathname === '/fhir/metadata') {
      send(res, 200, capabilityStatement(['Patient', 'Observation']));
      return;
    }
    if (req.method === 'POST' && (url.pathname === '/fhir' || url.pathname === '/fhir/')) {
      const bundle = JSON.parse(body) as Json;
      this.transactions.push(bundle);
      const n = this.transactions.length;
      send(res, 200, {
        resourceType: 'Bundle',
        type: 'transaction-response',
        entry: ((bundle.entry ?? []) as Json[]).map((e, i) => ({ response: { status: '201 Created', location: `${e.resource?.resourceType as string}/pushed-${n}-${i}/_history/1` } })),
      });
      return;
    }
    const type = url.pathname.replace(/^\/fhir\//, '');
    send(res, 200, { resourceType: 'Bundle', type: 'searchset', total: INVALID_REMOTE_RESOURCES[type]?.length ?? 0, entry: (INVALID_REMOTE_RESOURCES[type] ?? []).map((r) => ({ fullUrl: `${this.baseUrl}/${type}/${r.id}`, resource: r, search: { mode: 'match' } })) });
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

/** What the 'invalid' remote holds: one valid Patient, one Observation that is not valid FHIR (no status, no code, a made-up element). */
export const INVALID_REMOTE_RESOURCES: Record<string, Json[]> = {
  Patient: [{ resourceType: 'Patient', id: 'valid-1', meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00.000Z' }, name: [{ family: 'Valid' }], gender: 'female', birthDate: '1955-04-02' }],
  Observation: [
    {
      resourceType: 'Observation',
      id: 'invalid-1',
      meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00.000Z' },
      subject: { reference: 'Patient/valid-1' },
      valueQuantity: { value: 'not a number' },
      madeUpElement: true,
    },
  ],
};

function capabilityStatement(types: string[]): Json {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{ mode: 'server', resource: types.map((type) => ({ type, interaction: [{ code: 'read' }, { code: 'search-type' }], searchParam: [{ name: '_lastUpdated', type: 'date' }] })) }],
  };
}

function send(res: ServerResponse, status: number, body: Json): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

/** Every `Type/id` reference in a resource (contained '#...', absolute and urn references left out). */
export function relativeReferences(resource: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key?: string) => {
    if (Array.isArray(v)) v.forEach((x) => walk(x));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    else if (key === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(v)) out.push(v);
  };
  walk(resource);
  return out;
}
