import type { OperationOutcome } from '@medplum/fhirtypes';
import type { ConnectionAuth } from '../remote-fhir.client';

const MASK = '[redacted]';

/**
 * The forms in which a secret may be echoed: as is, JSON-escaped, URL-encoded (component and form
 * encoding), base64 and base64url.
 */
export function formsOf(secret: string): string[] {
  const forms = [
    secret,
    JSON.stringify(secret).slice(1, -1),
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('base64url'),
  ];
  // Longest first, so that a form containing another is cut out whole.
  return [...new Set(forms)].sort((a, b) => b.length - a.length);
}

/**
 * What a connection's authentication puts on the wire and a remote could echo: the bearer token,
 * or the client secret and the HTTP Basic pair `clientId:secret` (as is and as the client sends it,
 * each part URL-encoded before base64). The access tokens a client fetched are added by the client.
 */
export function authSecrets(auth: ConnectionAuth | undefined): string[] {
  if (!auth || auth.type === 'none') return [];
  if (auth.type === 'bearer') return [auth.token];
  return [auth.clientSecret, `${auth.clientId}:${auth.clientSecret}`, `${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret)}`];
}

/** `text` with every form of every secret cut out. Pure. */
export function scrub(text: string, secrets: Array<string | null | undefined>): string {
  let out = text;
  // Very short values would mask ordinary words; secrets are never that short.
  const forms = [...new Set(secrets.filter((x): x is string => typeof x === 'string' && x.length >= 4).flatMap(formsOf))].sort((a, b) => b.length - a.length);
  for (const form of forms) out = out.split(form).join(MASK);
  return out;
}

/**
 * A remote's error message could echo what it was sent; whatever it says is kept and shown, so the
 * connection's secrets are cut out of it first. Pure.
 */
export function redact(outcome: OperationOutcome, secrets: Array<string | null | undefined>): OperationOutcome {
  return JSON.parse(scrub(JSON.stringify(outcome), secrets)) as OperationOutcome;
}

/**
 * knex puts a failed statement, its bind values interpolated, in front of the error's message: a
 * statement that stores a secret would carry the secret (and the encryption key) into the log line
 * of an unexpected error. This takes them out of the message and stack of such an error.
 */
export function scrubError<T>(e: T, secrets: Array<string | null | undefined>): T {
  if (!(e instanceof Error)) return e;
  e.message = scrub(e.message, secrets);
  if (e.stack) e.stack = scrub(e.stack, secrets);
  return e;
}
