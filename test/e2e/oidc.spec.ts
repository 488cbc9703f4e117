import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type KeyLike } from 'jose';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/** Tokens from a hospital's own OpenID Connect issuer (here a JWKS served on loopback). */
describe('external OpenID Connect issuer', () => {
  const ISSUER = 'https://idp.hospital.example';
  const AUDIENCE = 'fhir-api';
  let jwksServer: Server;
  let idpKey: KeyLike;
  let t: TestApp;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    idpKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    const port = (jwksServer.address() as AddressInfo).port;
    t = await startTestApp({ OIDC_ISSUER: ISSUER, OIDC_AUDIENCE: AUDIENCE, OIDC_JWKS_URL: `http://127.0.0.1:${port}/jwks` });
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((r) => jwksServer?.close(r));
  });

  const idpToken = (claims: Record<string, unknown>, o: { key?: KeyLike; issuer?: string; audience?: string; kid?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: o.kid ?? 'idp-1' })
      .setIssuer(o.issuer ?? ISSUER)
      .setAudience(o.audience ?? AUDIENCE)
      .setSubject('dr-who')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(o.key ?? idpKey);

  it('accepts its tokens with their scopes, within the role ceiling', async () => {
    const api = FhirRequest.of(t, await idpToken({ scope: 'system/*.cruds', fhir_role: 'ehr-system' }));
    const created = await api.post('Patient', { resourceType: 'Patient', name: [{ family: 'External' }] });
    expect(created.status).toBe(201);
    expect((await api.get(`Patient/${created.body.id}`)).status).toBe(200);

    // A data-scientist role keeps only read scopes, whatever the token claims, and those serve de-identified exports only.
    const reader = FhirRequest.of(t, await idpToken({ scope: 'system/*.cruds system/*.rs', fhir_role: 'data-scientist' }));
    expectOutcome(await reader.get(`Patient/${created.body.id}`), 403);
    expectOutcome(await reader.post('Patient', { resourceType: 'Patient' }), 403);
  });

  it('refuses tokens with the wrong audience, key or role', async () => {
    expectOutcome(await FhirRequest.of(t, await idpToken({ scope: 'system/*.rs' }, { audience: 'someone-else' })).get('Patient/x'), 401);
    const other = await generateKeyPair('RS256');
    expectOutcome(await FhirRequest.of(t, await idpToken({ scope: 'system/*.rs' }, { key: other.privateKey })).get('Patient/x'), 401);
    expectOutcome(await FhirRequest.of(t, await idpToken({ scope: 'system/*.rs', fhir_role: 'superuser' })).get('Patient/x'), 401);
  });

  it('still accepts the server own tokens', async () => {
    expect((await FhirRequest.of(t).get('metadata')).status).toBe(200);
    expect((await FhirRequest.of(t).get('Patient/none')).status).toBe(404);
  });
});
