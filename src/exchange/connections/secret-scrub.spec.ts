import { authSecrets, redact, scrub, scrubError } from './secret-scrub';

describe('redact', () => {
  it('cuts a secret out of a remote outcome, in the forms a remote might echo it', () => {
    const secret = 'p@ss/word+1';
    const outcome = {
      resourceType: 'OperationOutcome' as const,
      issue: [
        { severity: 'error' as const, code: 'login' as const, diagnostics: `bad secret ${secret}; form client_secret=${encodeURIComponent(secret)}` },
        { severity: 'error' as const, code: 'login' as const, details: { text: Buffer.from(secret).toString('base64') } },
      ],
    };
    const text = JSON.stringify(redact(outcome, [secret]));
    expect(text).not.toContain(secret);
    expect(text).not.toContain(encodeURIComponent(secret));
    expect(text).not.toContain(Buffer.from(secret).toString('base64'));
    expect(redact(outcome, [secret]).issue[0].diagnostics).toBe('bad secret [redacted]; form client_secret=[redacted]');
    expect(redact(outcome, [])).toEqual(outcome);
  });
});

describe('scrubError', () => {
  it('takes bind values out of an error knex prefixed with its statement, keeping the rest', () => {
    const e = Object.assign(new Error("INSERT INTO exchange_connections VALUES ('c1', 'tok-123456', 'KEY+base64/=') - new row violates check constraint \"x\""), { code: '23514' });
    const scrubbed = scrubError(e, ['tok-123456', 'KEY+base64/=', null, undefined]);
    expect(scrubbed).toBe(e);
    expect(scrubbed.message).toBe("INSERT INTO exchange_connections VALUES ('c1', '[redacted]', '[redacted]') - new row violates check constraint \"x\"");
    expect(scrubbed.stack).not.toContain('tok-123456');
    expect(scrubbed.code).toBe('23514');
    expect(scrubError('not an error', ['tok-123456'])).toBe('not an error');
  });
});

describe('authSecrets', () => {
  it('covers the HTTP Basic pair of client credentials, as is and as the client encodes it', () => {
    const auth = { type: 'client_credentials' as const, tokenUrl: 'https://ehr.example.org/token', clientId: 'our client', clientSecret: 'S3cret+/=' };
    const sent = `Basic ${Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret)}`).toString('base64')}`;
    const plain = `Basic ${Buffer.from(`${auth.clientId}:${auth.clientSecret}`).toString('base64')}`;
    expect(scrub(`you sent ${sent}; or ${plain}`, authSecrets(auth))).toBe('you sent Basic [redacted]; or Basic [redacted]');
    expect(authSecrets({ type: 'bearer', token: 'tok-123456' })).toEqual(['tok-123456']);
    expect(authSecrets({ type: 'none' })).toEqual([]);
    expect(authSecrets(undefined)).toEqual([]);
  });
});
