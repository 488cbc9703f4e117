import { OperationOutcomeError } from '../../fhir/operation-outcome';
import { absoluteHttpUrl, parseConnectionPatch, parseNewConnection } from './connection-request';

const SECRET = 'Sup3r-s3cret-VALUE';

/** The 400 a parse throws: its expression and diagnostics. */
function refusal(parse: () => unknown): { expression: string[]; diagnostics: string } {
  try {
    parse();
  } catch (e) {
    expect(e).toBeInstanceOf(OperationOutcomeError);
    const err = e as OperationOutcomeError;
    expect(err.status).toBe(400);
    const issue = err.outcome.issue[0];
    return { expression: issue.expression ?? [], diagnostics: issue.diagnostics ?? '' };
  }
  throw new Error('expected a 400');
}

const valid = { name: 'Hospital A', baseUrl: 'https://ehr.example.org/fhir/', auth: { type: 'none' } };

describe('parseNewConnection', () => {
  it('accepts each auth type and normalises the URLs', () => {
    expect(parseNewConnection(valid)).toEqual({ name: 'Hospital A', baseUrl: 'https://ehr.example.org/fhir', auth: { type: 'none' }, resourceTypes: null, syncIntervalSeconds: null });
    expect(parseNewConnection({ ...valid, baseUrl: 'HTTPS://EHR.example.org:443/fhir//', auth: { type: 'bearer', token: SECRET } })).toMatchObject({
      baseUrl: 'https://ehr.example.org/fhir',
      auth: { type: 'bearer', token: SECRET },
    });
    const cc = parseNewConnection({
      ...valid,
      auth: { type: 'client_credentials', tokenUrl: 'https://idp.example.org/token?realm=x', clientId: 'ours', clientSecret: SECRET, scope: ' system/*.rs ' },
      resourceTypes: ['Patient', 'Observation', 'Patient'],
      syncIntervalSeconds: 60,
    });
    expect(cc).toEqual({
      name: 'Hospital A',
      baseUrl: 'https://ehr.example.org/fhir',
      auth: { type: 'client_credentials', tokenUrl: 'https://idp.example.org/token?realm=x', clientId: 'ours', clientSecret: SECRET, scope: 'system/*.rs' },
      resourceTypes: ['Patient', 'Observation'],
      syncIntervalSeconds: 60,
    });
  });

  it.each<[string, unknown, string]>([
    ['a body that is not an object', [valid], ''],
    ['a missing name', { ...valid, name: undefined }, 'name'],
    ['an empty name', { ...valid, name: '  ' }, 'name'],
    ['a missing baseUrl', { ...valid, baseUrl: undefined }, 'baseUrl'],
    ['a relative baseUrl', { ...valid, baseUrl: '/fhir' }, 'baseUrl'],
    ['an ftp baseUrl', { ...valid, baseUrl: 'ftp://ehr.example.org/fhir' }, 'baseUrl'],
    ['a baseUrl with a fragment', { ...valid, baseUrl: 'https://ehr.example.org/fhir#x' }, 'baseUrl'],
    ['a baseUrl with a query', { ...valid, baseUrl: 'https://ehr.example.org/fhir?a=b' }, 'baseUrl'],
    ['a baseUrl that is a number', { ...valid, baseUrl: 42 }, 'baseUrl'],
    ['a missing auth', { ...valid, auth: undefined }, 'auth'],
    ['an unknown auth type', { ...valid, auth: { type: 'basic' } }, 'auth.type'],
    ['a bearer without token', { ...valid, auth: { type: 'bearer' } }, 'auth.token'],
    ['a token with a space', { ...valid, auth: { type: 'bearer', token: 'a b' } }, 'auth.token'],
    ['a relative tokenUrl', { ...valid, auth: { type: 'client_credentials', tokenUrl: 'token', clientId: 'x', clientSecret: SECRET } }, 'auth.tokenUrl'],
    ['a missing clientId', { ...valid, auth: { type: 'client_credentials', tokenUrl: 'https://idp/token', clientSecret: SECRET } }, 'auth.clientId'],
    ['a missing clientSecret', { ...valid, auth: { type: 'client_credentials', tokenUrl: 'https://idp/token', clientId: 'x' } }, 'auth.clientSecret'],
    ['a scope that is not a string', { ...valid, auth: { type: 'client_credentials', tokenUrl: 'https://idp/token', clientId: 'x', clientSecret: SECRET, scope: 3 } }, 'auth.scope'],
    ['a field of another auth type', { ...valid, auth: { type: 'none', token: SECRET } }, 'auth.token'],
    ['an unknown resource type', { ...valid, resourceTypes: ['Patient', 'Patients'] }, 'resourceTypes[1]'],
    ['an abstract resource type', { ...valid, resourceTypes: ['DomainResource'] }, 'resourceTypes[0]'],
    ['resourceTypes that is not an array', { ...valid, resourceTypes: 'Patient' }, 'resourceTypes'],
    ['an empty resourceTypes', { ...valid, resourceTypes: [] }, 'resourceTypes'],
    ['an interval under a minute', { ...valid, syncIntervalSeconds: 59 }, 'syncIntervalSeconds'],
    ['a fractional interval', { ...valid, syncIntervalSeconds: 60.5 }, 'syncIntervalSeconds'],
    ['an interval as text', { ...valid, syncIntervalSeconds: '60' }, 'syncIntervalSeconds'],
    ['an unknown field', { ...valid, baseURL: 'https://x' }, 'baseURL'],
  ])('refuses %s, naming the field', (_what, body, field) => {
    const { expression } = refusal(() => parseNewConnection(body));
    if (field) expect(expression).toEqual([field]);
    else expect(expression).toEqual([]);
  });

  it('never quotes a secret or URL credentials back', () => {
    const withCredentials = refusal(() => parseNewConnection({ ...valid, baseUrl: `https://user:${SECRET}@ehr.example.org/fhir` }));
    expect(withCredentials.expression).toEqual(['baseUrl']);
    expect(withCredentials.diagnostics).toMatch(/credentials/);
    expect(withCredentials.diagnostics).not.toContain(SECRET);
    const tokenCredentials = refusal(() =>
      parseNewConnection({ ...valid, auth: { type: 'client_credentials', tokenUrl: `https://u:${SECRET}@idp/token`, clientId: 'x', clientSecret: SECRET } }),
    );
    expect(tokenCredentials.expression).toEqual(['auth.tokenUrl']);
    expect(tokenCredentials.diagnostics).not.toContain(SECRET);
    const badSecret = refusal(() => parseNewConnection({ ...valid, auth: { type: 'bearer', token: `${SECRET}\n` } }));
    expect(badSecret.expression).toEqual(['auth.token']);
    expect(badSecret.diagnostics).not.toContain(SECRET);
  });
});

describe('parseConnectionPatch', () => {
  it('keeps what is absent, removes what is null, and replaces auth whole', () => {
    expect(parseConnectionPatch({})).toEqual({});
    expect(parseConnectionPatch({ resourceTypes: null, syncIntervalSeconds: null })).toEqual({ resourceTypes: null, syncIntervalSeconds: null });
    expect(parseConnectionPatch({ name: ' B ', status: 'off', auth: { type: 'bearer', token: SECRET }, syncIntervalSeconds: 3600 })).toEqual({
      name: 'B',
      status: 'off',
      auth: { type: 'bearer', token: SECRET },
      syncIntervalSeconds: 3600,
    });
  });

  it.each<[string, unknown, string]>([
    ['a null name', { name: null }, 'name'],
    ['a null baseUrl', { baseUrl: null }, 'baseUrl'],
    ['a null auth', { auth: null }, 'auth'],
    ['an unknown status', { status: 'paused' }, 'status'],
    ['an id', { id: 'x' }, 'id'],
    ['a partial client_credentials auth', { auth: { type: 'client_credentials', clientId: 'x' } }, 'auth.tokenUrl'],
    ['a short interval', { syncIntervalSeconds: 10 }, 'syncIntervalSeconds'],
  ])('refuses %s, naming the field', (_what, body, field) => {
    expect(refusal(() => parseConnectionPatch(body)).expression).toEqual([field]);
  });
});

describe('absoluteHttpUrl', () => {
  it('keeps a query only where allowed', () => {
    expect(absoluteHttpUrl('http://127.0.0.1:8080/auth/token?x=1', 'tokenUrl', { query: true })).toBe('http://127.0.0.1:8080/auth/token?x=1');
    expect(() => absoluteHttpUrl('http://127.0.0.1:8080/fhir?x=1', 'baseUrl', { query: false })).toThrow(/query/);
  });
});
