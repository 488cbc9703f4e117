import { connect } from 'node:net';
import request from 'supertest';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

describe('hardening', () => {
  let t: TestApp;
  let api: FhirRequest;
  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: 'https://app.example.org', CLIENT_RATE_LIMIT_PER_MINUTE: '20' });
    api = FhirRequest.of(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a JSON bomb with 400 and stores nothing', async () => {
    const before = (await api.get('_history?_count=0')).body.total;
    const bomb = `{"resourceType":"Patient","extension":${'['.repeat(50000)}${']'.repeat(50000)}}`;
    const res = await api.post('Patient', bomb);
    expectOutcome(res, 400);
    expect(res.body.issue[0].diagnostics).toMatch(/nested deeper/);
    expect((await api.get('_history?_count=0')).body.total).toBe(before);
  });

  it('sends security headers and no stack traces', async () => {
    const res = await api.get('Patient/does-not-exist');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  /** Sends raw bytes (what no HTTP client library would send) and reads the whole answer. */
  function raw(bytes: Buffer): Promise<{ statusLine: string; headers: string; body: string }> {
    const { hostname, port } = new URL(t.baseUrl);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.end(bytes));
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const [head, body = ''] = text.split('\r\n\r\n');
        const [statusLine, ...headers] = head.split('\r\n');
        resolve({ statusLine, headers: headers.join('\n').toLowerCase(), body });
      });
    });
  }

  it("requests Node's HTTP parser refuses (headers too large, raw non-ASCII in the URL) are answered with an OperationOutcome too", async () => {
    const huge = await raw(Buffer.from(`GET /fhir/Patient?name=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`));
    expect(huge.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(huge.headers).toContain('content-type: application/fhir+json');
    expect(JSON.parse(huge.body)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-long' }] });
    const utf8 = await raw(Buffer.concat([Buffer.from('GET /fhir/Patient?name='), Buffer.from('Müller', 'utf8'), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]));
    expect(utf8.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(utf8.body)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure' }] });
  });

  it('answers CORS for the configured origin only', async () => {
    const ok = await request(t.app.getHttpServer()).options('/fhir/Patient').set('Origin', 'https://app.example.org').set('Access-Control-Request-Method', 'POST');
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example.org');
    const other = await request(t.app.getHttpServer()).options('/fhir/Patient').set('Origin', 'https://evil.example.com').set('Access-Control-Request-Method', 'POST');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('limits requests per client with 429 and Retry-After', async () => {
    let limited: request.Response | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const res = await api.get('metadata').set('Authorization', `Bearer ${t.token}`);
      const fhir = await api.get('Patient/none');
      if (fhir.status === 429) limited = fhir;
      expect(res.status).toBe(200); // metadata is public and not limited per client
    }
    expect(limited).toBeDefined();
    expectOutcome(limited as request.Response, 429);
    expect(Number((limited as request.Response).headers['retry-after'])).toBeGreaterThan(0);
  });
});
