import type { OperationOutcome } from '@medplum/fhirtypes';

const MASK = '[redacted]';

/** The forms in which a secret may be echoed: as is, JSON-escaped, URL-encoded, base64. */
function formsOf(secret: string): string[] {
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), Buffer.from(secret).toString('base64')])];
}

function scrub(text: string, secrets: string[]): string {
  let out = text;
  // Very short values would mask ordinary words; secrets are never that short.
  for (const s of secrets.filter((x) => x && x.length >= 4)) for (const form of formsOf(s)) out = out.split(form).join(MASK);
  return out;
}

/**
 * A remote's error message could echo what it was sent; whatever it says is kept and shown, so the
 * connection's secret is cut out of it first. Pure.
 */
export function redact(outcome: OperationOutcome, secrets: string[]): OperationOutcome {
  return JSON.parse(scrub(JSON.stringify(outcome), secrets)) as OperationOutcome;
}

/**
 * knex puts a failed statement, its bind values interpolated, in front of the error's message: a
 * statement that stores a secret would carry the secret (and the encryption key) into the log line
 * of an unexpected error. This takes them out of the message and stack of such an error.
 */
export function scrubError<T>(e: T, secrets: Array<string | null | undefined>): T {
  if (!(e instanceof Error)) return e;
  const values = secrets.filter((s): s is string => typeof s === 'string');
  e.message = scrub(e.message, values);
  if (e.stack) e.stack = scrub(e.stack, values);
  return e;
}
