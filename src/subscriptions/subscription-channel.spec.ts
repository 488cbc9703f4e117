import type { Subscription } from '@medplum/fhirtypes';
import { MASKED_HEADER_VALUE, acceptedStatus, channelHeaders, channelProblems, isLiveWebsocket, parseCriteria, queryForId, unmaskedHeaders } from './subscription-channel';
import { isPrivateAddress } from './endpoint-guard';

const sub = (channel: Partial<Subscription['channel']>, criteria = 'Observation?code=1'): Subscription =>
  ({ resourceType: 'Subscription', status: 'requested', reason: 'r', criteria, channel: { type: 'rest-hook', endpoint: 'https://ehr.example.org/hook', ...channel } }) as Subscription;

describe('Subscription channels', () => {
  it('parses criteria of a known type, with a query or bare', () => {
    expect(parseCriteria('Observation?code=http://loinc.org|8867-4')).toEqual({ resourceType: 'Observation', query: 'code=http://loinc.org|8867-4' });
    expect(parseCriteria('Observation')).toEqual({ resourceType: 'Observation', query: '' });
    expect(parseCriteria('Observation?')).toEqual({ resourceType: 'Observation', query: '' });
    expect(parseCriteria('Observation code=1')).toBeUndefined();
    expect(parseCriteria('Nothing?x=1')).toBeUndefined();
    expect(parseCriteria('/Observation?x=1')).toBeUndefined();
  });

  it('accepts a well-formed rest-hook and websocket channel', () => {
    expect(channelProblems(sub({ payload: 'application/fhir+json', header: ['Authorization: Bearer x'] }))).toEqual([]);
    // MIME type parameters, as R4's http.html writes them
    expect(channelProblems(sub({ payload: 'application/fhir+json; fhirVersion=4.0' }))).toEqual([]);
    expect(channelProblems(sub({ payload: 'application/fhir+xml;charset=utf-8' }))).toEqual([]);
    expect(channelProblems(sub({ type: 'websocket', endpoint: undefined }))).toEqual([]);
  });

  it('names each problem by its path', () => {
    const paths = (s: Subscription) => channelProblems(s).map((p) => p.path);
    expect(paths(sub({}, 'Observation'))).toEqual([]);
    expect(paths(sub({}, 'not a search'))).toEqual(['Subscription.criteria']);
    expect(paths(sub({ type: 'email' }))).toEqual(['Subscription.channel.type']);
    expect(paths(sub({ endpoint: 'ftp://x/y' }))).toEqual(['Subscription.channel.endpoint']);
    expect(paths(sub({ endpoint: 'https://user:pw@x.org/y' }))).toEqual(['Subscription.channel.endpoint']);
    expect(paths(sub({ payload: 'text/plain' }))).toEqual(['Subscription.channel.payload']);
    expect(paths(sub({ payload: 'text/plain; fhirVersion=4.0' }))).toEqual(['Subscription.channel.payload']);
    expect(paths(sub({ payload: 'application/fhir+json; x=a\r\nX-Injected: 1' }))).toEqual(['Subscription.channel.payload']);
    expect(paths(sub({ type: 'websocket', payload: 'application/fhir+json' }))).toEqual(['Subscription.channel.payload']);
    expect(paths(sub({ header: ['ok: 1', 'Bad\nName: x'] }))).toEqual(['Subscription.channel.header[1]']);
  });

  it('reads headers as an object', () => {
    expect(channelHeaders(sub({ header: ['Authorization: Bearer a:b', 'X-Y:z'] }))).toEqual({ Authorization: 'Bearer a:b', 'X-Y': 'z' });
  });

  it('lets clients submit requested or off, keeps a re-submitted status, refuses the rest', () => {
    expect(acceptedStatus('requested', undefined)).toBe('active');
    expect(acceptedStatus('off', 'active')).toBe('off');
    expect(acceptedStatus('active', 'active')).toBe('active');
    expect(acceptedStatus('active', undefined)).toHaveProperty('refused');
    expect(acceptedStatus('error', 'active')).toHaveProperty('refused');
  });

  it('stores off a Subscription whose end has passed', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(acceptedStatus('requested', undefined, '2029-12-31T23:59:59Z', now)).toBe('off');
    expect(acceptedStatus('active', 'active', '2029-12-31T23:59:59Z', now)).toBe('off');
    expect(acceptedStatus('requested', undefined, '2030-01-01T00:00:01Z', now)).toBe('active');
    expect(acceptedStatus('error', 'active', '2029-12-31T23:59:59Z', now)).toHaveProperty('refused');
  });

  it('narrows the criteria to one resource, bare or not', () => {
    expect(queryForId({ resourceType: 'Observation', query: 'code=1' }, 'a b')).toBe('code=1&_id=a%20b');
    expect(queryForId({ resourceType: 'Observation', query: '' }, 'x')).toBe('_id=x');
  });

  it('binds only to an active websocket Subscription before its end', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const ws = { ...sub({ type: 'websocket', endpoint: undefined }), status: 'active' } as Subscription;
    expect(isLiveWebsocket(ws, now)).toBe(true);
    expect(isLiveWebsocket({ ...ws, end: '2029-01-01T00:00:00Z' }, now)).toBe(false);
    expect(isLiveWebsocket({ ...ws, status: 'off' }, now)).toBe(false);
    expect(isLiveWebsocket({ ...sub({}), status: 'active' }, now)).toBe(false);
  });

  it('puts back the stored value of a header sent masked', () => {
    const masked = `Authorization: ${MASKED_HEADER_VALUE}`;
    expect(unmaskedHeaders([masked, 'X-A: new'], ['authorization: Bearer old', 'X-A: old'])).toEqual({ headers: ['Authorization: Bearer old', 'X-A: new'], problems: [] });
    expect(unmaskedHeaders([`X: ${MASKED_HEADER_VALUE}`, `X: ${MASKED_HEADER_VALUE}`], ['X: 1', 'X: 2']).headers).toEqual(['X: 1', 'X: 2']);
    expect(unmaskedHeaders(['Y: 1', masked], []).problems.map((p) => p.path)).toEqual(['Subscription.channel.header[1]']);
  });
});

describe('isPrivateAddress', () => {
  it.each(['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd12:3456::1', 'fe80::1', '::ffff:127.0.0.1', '224.0.0.1'])(
    'treats %s as private',
    (a) => expect(isPrivateAddress(a)).toBe(true),
  );
  it.each(['8.8.8.8', '172.32.0.1', '193.168.1.1', '2001:db8::1', '100.128.0.1'])('treats %s as public', (a) => expect(isPrivateAddress(a)).toBe(false));
});
