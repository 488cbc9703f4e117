import request from 'supertest';
import { SignJWT, decodeProtectedHeader, generateKeyPair } from 'jose';
import { SigningKeyService } from '../../src/auth/signing-key.service';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../src/auth/token.service';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, startTestApp, type TestApp } from '../helpers/test-app';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Authentication: bearer tokens on every endpoint but metadata and health; the OAuth2 token endpoint. */
describe('authentication', () => {
  let t: TestApp;
  let api: FhirRequest;
  let patientId: string;

  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
    const res = await api.post('Patient', { resourceType: 'Patient', active: true });
    expect(res.status).toBe(201);
    patientId = res.body.id;
  });
  afterAll(async () => {
    await t?.close();
  });

  const server = () => t.app.getHttpServer();
  const tokenRequest = () => request(server()).post('/auth/token');
  const claims = () => ({ scope: 'system/*.*', role: 'admin' });

  /** The answer to a bearer-protected request: 401, an OperationOutcome and a Bearer challenge. */
  function expectUnauthorized(res: request.Response): void {
    expectOutcome(res, 401);
    expect(res.body.issue[0].code).toBe('login');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
  }

  describe('bearer tokens on the FHIR API', () => {
    it('the bootstrap client token works', async () => {
      const res = await api.get(`Patient/${patientId}`);
      expect(res.status).toBe(200);
    });

    it('no token: 401 with an OperationOutcome and WWW-Authenticate: Bearer, on reads and writes', async () => {
      const anon = api.anonymous();
      expectUnauthorized(await anon.get(`Patient/${patientId}`));
      expectUnauthorized(await anon.get('Patient/_history'));
      expectUnauthorized(await anon.get('_history'));
      expectUnauthorized(await anon.delete(`Patient/${patientId}`));
      const before = await api.historyTotal();
      expectUnauthorized(await anon.post('Patient', { resourceType: 'Patient' }));
      expectUnauthorized(await anon.put(`Patient/${patientId}`, { resourceType: 'Patient', id: patientId, active: false }));
      expectUnauthorized(await anon.post('Patient/$validate', { resourceType: 'Patient' }));
      expect(await api.historyTotal()).toBe(before);
      expect((await api.get(`Patient/${patientId}`)).body.active).toBe(true);
    });

    it('an unknown route without a token is 401 too (nothing is revealed about routes)', async () => {
      expectUnauthorized(await api.anonymous().get('Foo/1'));
    });

    it('a malformed Authorization header is 401', async () => {
      for (const header of ['Bearer', 'Basic dGVzdDp0ZXN0', `Token ${t.token}`, `Bearer ${t.token} extra`]) {
        expectUnauthorized(await request(server()).get(`/fhir/Patient/${patientId}`).set('Authorization', header));
      }
    });

    it('a garbage token is 401', async () => {
      for (const token of ['garbage', 'a.b.c', `${t.token}x`, t.token.split('.').slice(0, 2).join('.') + '.']) {
        expectUnauthorized(await FhirRequest.of(t, token).get(`Patient/${patientId}`));
      }
    });

    it('a token signed by another key is 401, even with the server key id, issuer and audience', async () => {
      const { kid } = decodeProtectedHeader(t.token);
      const { privateKey } = await generateKeyPair('ES256');
      const forged = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setSubject(TEST_CLIENT_ID)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      expectUnauthorized(await FhirRequest.of(t, forged).get(`Patient/${patientId}`));
    });

    it('an unsigned token (alg: none) is 401', async () => {
      const { kid } = decodeProtectedHeader(t.token);
      const now = Math.floor(Date.now() / 1000);
      const payload = { ...claims(), iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, sub: TEST_CLIENT_ID, iat: now, exp: now + 300 };
      const unsigned = `${b64url({ alg: 'none', typ: 'JWT', kid })}.${b64url(payload)}.`;
      expectUnauthorized(await FhirRequest.of(t, unsigned).get(`Patient/${patientId}`));
      // The real token's signature glued under an alg:none header is no better.
      const [, body, signature] = t.token.split('.');
      expectUnauthorized(await FhirRequest.of(t, `${b64url({ alg: 'none', kid })}.${body}.${signature}`).get(`Patient/${patientId}`));
    });

    describe('tokens signed with the server key itself', () => {
      const sign = async (build: (jwt: SignJWT) => SignJWT) => {
        const { kid, key } = t.app.get(SigningKeyService).signingKey();
        const jwt = new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).setSubject(TEST_CLIENT_ID).setIssuedAt();
        return build(jwt).sign(key);
      };

      it('control: a well-formed token made this way is accepted', async () => {
        const token = await sign((j) => j.setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setExpirationTime('5m'));
        expect((await FhirRequest.of(t, token).get(`Patient/${patientId}`)).status).toBe(200);
      });

      it('an expired token is 401 and says so', async () => {
        const past = Math.floor(Date.now() / 1000) - 3600;
        const token = await sign((j) => j.setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setIssuedAt(past - 60).setExpirationTime(past));
        const res = await FhirRequest.of(t, token).get(`Patient/${patientId}`);
        expectUnauthorized(res);
        expect(res.body.issue[0].diagnostics).toMatch(/expired/);
      });

      it('a token for another audience or issuer is 401', async () => {
        const otherAudience = await sign((j) => j.setIssuer(TOKEN_ISSUER).setAudience('someone-else').setExpirationTime('5m'));
        expectUnauthorized(await FhirRequest.of(t, otherAudience).get(`Patient/${patientId}`));
        const otherIssuer = await sign((j) => j.setIssuer('https://evil.example').setAudience(TOKEN_AUDIENCE).setExpirationTime('5m'));
        expectUnauthorized(await FhirRequest.of(t, otherIssuer).get(`Patient/${patientId}`));
      });
    });
  });

  describe('public endpoints', () => {
    it('GET /fhir/metadata needs no token', async () => {
      const res = await api.anonymous().get('metadata');
      expect(res.status).toBe(200);
      expect(res.body.resourceType).toBe('CapabilityStatement');
    });

    it('GET /fhir/metadata with a bad token is still served', async () => {
      const res = await FhirRequest.of(t, 'garbage').get('metadata');
      expect(res.status).toBe(200);
    });

    it('GET /health needs no token and reports database and redis up', async () => {
      const res = await request(server()).get('/health');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/json/);
      expect(res.body).toMatchObject({ status: 'up', checks: { database: { status: 'up' }, redis: { status: 'up' } } });
    });
  });

  describe('POST /auth/token', () => {
    const form = (fields: Record<string, string>) => tokenRequest().type('form').send(fields);

    it('issues a bearer token for the right client credentials', async () => {
      const res = await form({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET });
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toMatch(/no-store/);
      expect(res.body).toMatchObject({ token_type: 'Bearer' });
      expect(typeof res.body.access_token).toBe('string');
      expect(res.body.access_token.split('.')).toHaveLength(3);
      expect(typeof res.body.expires_in).toBe('number');
      expect(res.body.expires_in).toBe(t.config.tokenTtlSeconds);
      expect(typeof res.body.scope).toBe('string');
      expect(res.body.scope.length).toBeGreaterThan(0);
      expect((await FhirRequest.of(t, res.body.access_token).get(`Patient/${patientId}`)).status).toBe(200);
    });

    it('HTTP Basic client authentication works', async () => {
      const res = await tokenRequest()
        .auth(TEST_CLIENT_ID, TEST_CLIENT_SECRET)
        .type('form')
        .send({ grant_type: 'client_credentials' });
      expect(res.status).toBe(200);
      expect(res.body.token_type).toBe('Bearer');
      expect((await FhirRequest.of(t, res.body.access_token).get(`Patient/${patientId}`)).status).toBe(200);
    });

    it('a wrong secret is 401 invalid_client', async () => {
      const res = await form({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: 'wrong' });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
      expect(res.body.access_token).toBeUndefined();
      const basic = await tokenRequest().auth(TEST_CLIENT_ID, 'wrong').type('form').send({ grant_type: 'client_credentials' });
      expect(basic.status).toBe(401);
      expect(basic.body.error).toBe('invalid_client');
      expect(basic.headers['www-authenticate']).toMatch(/^Basic\b/);
    });

    it('an unknown client or missing credentials is 401 invalid_client', async () => {
      const unknown = await form({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: TEST_CLIENT_SECRET });
      expect(unknown.status).toBe(401);
      expect(unknown.body.error).toBe('invalid_client');
      const none = await form({ grant_type: 'client_credentials' });
      expect(none.status).toBe(401);
      expect(none.body.error).toBe('invalid_client');
    });

    it('a wrong grant_type is 400 unsupported_grant_type', async () => {
      for (const grant of ['password', 'authorization_code', '']) {
        const res = await form({ grant_type: grant, client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET });
        expect(res.status).toBe(400);
        expect(res.body.error).toBe('unsupported_grant_type');
        expect(res.body.access_token).toBeUndefined();
      }
    });

    it('a JSON body instead of a form is 400', async () => {
      const res = await tokenRequest()
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET }));
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      expect(res.body.access_token).toBeUndefined();
    });

    it('scopes the client does not hold are not granted', async () => {
      const granted = await form({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET });
      const held: string[] = granted.body.scope.split(' ');
      const res = await form({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET, scope: `${held[0]} made/up.scope` });
      expect(res.status).toBe(200);
      expect(res.body.scope).toBe(held[0]);
      const none = await form({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET, scope: 'made/up.scope' });
      expect(none.status).toBe(400);
      expect(none.body.error).toBe('invalid_scope');
    });
  });
});
