import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RemoteFhirClient, RemoteFhirError } from './remote-fhir.client';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A tiny HTTP server standing for a remote FHIR server and its token endpoint. */
async function remote(handler: Handler): Promise<{ base: string; requests: Array<{ method: string; url: string; auth?: string }>; close(): Promise<void> }> {
  const requests: Array<{ method: string; url: string; auth?: string }> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(() => r())) };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
};

const options = { timeoutMs: 2000, allowPrivate: true };

describe('RemoteFhirClient', () => {
  it('follows only links under its own base URL', () => {
    const c = new RemoteFhirClient('https://ehr.example.org/fhir/', { type: 'none' }, options);
    expect(c.foreignUrl('https://ehr.example.org/fhir/Patient?_page=2')).toBeUndefined();
    expect(c.foreignUrl('https://ehr.example.org/fhir?_getpages=abc')).toBeUndefined();
    expect(c.foreignUrl('https://evil.example.com/fhir/Patient')).toMatch(/outside https:\/\/ehr.example.org\/fhir/);
    expect(c.foreignUrl('http://ehr.example.org/fhir/Patient')).toMatch(/outside/);
    expect(c.foreignUrl('https://ehr.example.org/fhirx/Patient')).toMatch(/outside/);
    expect(c.foreignUrl('https://ehr.example.org:8443/fhir/Patient')).toMatch(/outside/);
    expect(c.foreignUrl('not a url')).toMatch(/not a URL/);
  });

  it('gets an OAuth2 client-credentials token with HTTP Basic, reuses it, and fetches a new one once on a 401', async () => {
    let issued = 0;
    let accept = 'token-1';
    const r = await remote((req, body, res) => {
      if (req.url === '/token') {
        expect(body).toContain('grant_type=client_credentials');
        expect(body).toContain('scope=system%2F*.read');
        issued++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: `token-${issued}`, token_type: 'bearer', expires_in: 3600 }));
        return;
      }
      if (req.headers.authorization !== `Bearer ${accept}`) return json(res, 401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'expired' }] });
      json(res, 200, { resourceType: 'Patient', id: 'p1' });
    });
    try {
      const c = new RemoteFhirClient(`${r.base}/fhir`, { type: 'client_credentials', tokenUrl: `${r.base}/token`, clientId: 'me', clientSecret: 's3cret:x', scope: 'system/*.read' }, options);
      expect(await c.read('Patient', 'p1')).toEqual({ resourceType: 'Patient', id: 'p1' });
      expect(await c.read('Patient', 'p1')).toMatchObject({ id: 'p1' });
      expect(issued).toBe(1);
      const basic = r.requests.find((q) => q.url === '/token')!.auth!;
      expect(Buffer.from(basic.replace(/^Basic /, ''), 'base64').toString()).toBe('me:s3cret%3Ax');
      accept = 'token-2'; // the remote revoked token-1
      expect(await c.read('Patient', 'p1')).toMatchObject({ id: 'p1' });
      expect(issued).toBe(2);
    } finally {
      await r.close();
    }
  });

  it('reports a refused token request as a RemoteFhirError with an OperationOutcome, never echoing the secret', async () => {
    const r = await remote((_req, _body, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_client', error_description: 'Unknown client or wrong secret' }));
    });
    try {
      const c = new RemoteFhirClient(`${r.base}/fhir`, { type: 'client_credentials', tokenUrl: `${r.base}/token`, clientId: 'me', clientSecret: 'do-not-leak' }, options);
      const e = (await c.capabilityStatement().catch((x: unknown) => x)) as RemoteFhirError;
      expect(e).toBeInstanceOf(RemoteFhirError);
      expect(e.status).toBe(401);
      expect(e.transient).toBe(false);
      expect(e.message).toMatch(/invalid_client: Unknown client or wrong secret/);
      expect(JSON.stringify(e.outcome)).not.toContain('do-not-leak');
      expect(e.message).not.toContain('do-not-leak');
    } finally {
      await r.close();
    }
  });

  it('sends a bearer token, keeps the remote OperationOutcome of a 5xx and calls it transient; 404 on read is undefined', async () => {
    const r = await remote((req, _body, res) => {
      expect(req.headers.authorization).toBe('Bearer abc');
      if (req.url?.startsWith('/fhir/Patient/gone')) return json(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
      json(res, 503, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient', diagnostics: 'database restarting' }] });
    });
    try {
      const c = new RemoteFhirClient(`${r.base}/fhir`, { type: 'bearer', token: 'abc' }, options);
      expect(await c.read('Patient', 'gone')).toBeUndefined();
      const e = (await c.search('Observation', { _count: '10' }).catch((x: unknown) => x)) as RemoteFhirError;
      expect(e).toMatchObject({ status: 503, transient: true });
      expect(e.outcome.issue?.[0].diagnostics).toBe('database restarting');
      expect(e.message).toMatch(/GET Observation\?_count=10 answered 503: database restarting/);
    } finally {
      await r.close();
    }
  });

  it('gives up on a remote that does not answer within the timeout (transient), and on a closed port', async () => {
    const r = await remote(() => undefined); // never answers
    try {
      const c = new RemoteFhirClient(`${r.base}/fhir`, { type: 'none' }, { ...options, timeoutMs: 300 });
      const e = (await c.capabilityStatement().catch((x: unknown) => x)) as RemoteFhirError;
      expect(e).toMatchObject({ status: undefined, transient: true });
      expect(e.message).toMatch(/no answer within the timeout/);
    } finally {
      await r.close();
    }
    const closed = new RemoteFhirClient(r.base, { type: 'none' }, options);
    const e = (await closed.capabilityStatement().catch((x: unknown) => x)) as RemoteFhirError;
    expect(e).toBeInstanceOf(RemoteFhirError);
    expect(e.transient).toBe(true);
  });

  it('does not follow redirects, and refuses loopback unless private endpoints are allowed', async () => {
    const r = await remote((_req, _body, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' });
      res.end();
    });
    try {
      const c = new RemoteFhirClient(`${r.base}/fhir`, { type: 'none' }, options);
      await expect(c.capabilityStatement()).rejects.toBeInstanceOf(RemoteFhirError);
      expect(r.requests).toHaveLength(1);
      const strict = new RemoteFhirClient(`${r.base}/fhir`, { type: 'none' }, { ...options, allowPrivate: false });
      const e = (await strict.capabilityStatement().catch((x: unknown) => x)) as RemoteFhirError;
      expect(e.message).toMatch(/private or loopback address .*CONNECTION_ALLOW_PRIVATE_ENDPOINTS/);
      expect(e.transient).toBe(false);
      expect(r.requests).toHaveLength(1);
    } finally {
      await r.close();
    }
  });

  it('refuses to follow a next link to another origin without sending anything', async () => {
    const r = await remote((_req, _body, res) => json(res, 200, { resourceType: 'Bundle', type: 'searchset' }));
    try {
      const c = new RemoteFhirClient(`${r.base}/fhir`, { type: 'bearer', token: 'abc' }, options);
      await expect(c.page('http://198.51.100.7/fhir/Patient?page=2')).rejects.toThrow(/outside/);
      expect(r.requests).toHaveLength(0);
      expect(await c.page(`${r.base}/fhir/Patient?page=2`)).toMatchObject({ resourceType: 'Bundle' });
    } finally {
      await r.close();
    }
  });

  it('cuts the access token and the HTTP Basic pair out of every failure it reports (a push transaction here)', async () => {
    const r = await remote((req, _body, res) => {
      if (req.url === '/token') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'AccessTok-xyz-987654', token_type: 'bearer', expires_in: 3600 }));
        return;
      }
      json(res, 422, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics: `refused for ${req.headers.authorization}` }] });
    });
    try {
      const c = new RemoteFhirClient(`${r.base}/fhir`, { type: 'client_credentials', tokenUrl: `${r.base}/token`, clientId: 'me', clientSecret: 'Secret-42/x' }, options);
      const e = (await c.transaction({ resourceType: 'Bundle', type: 'transaction', entry: [] }).catch((x: unknown) => x)) as RemoteFhirError;
      expect(e).toMatchObject({ status: 422, transient: false });
      expect(e.outcome.issue?.[0].diagnostics).toBe('refused for Bearer [redacted]');
      expect(`${e.message} ${e.stack}`).not.toContain('AccessTok-xyz-987654');
      expect(c.scrub(`Basic ${Buffer.from('me:Secret-42%2Fx').toString('base64')}`)).toBe('Basic [redacted]');
    } finally {
      await r.close();
    }
  });
});
