import type { Bundle, CapabilityStatement, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { endpointRefusal } from '../subscriptions/endpoint-guard';
import { authSecrets, redact, scrub } from './connections/secret-scrub';
import { fhirKitClient, type FhirKitClient } from './fhir-kit-client';

/** How the server authenticates to an external FHIR server. Secrets only ever in memory here. */
export type ConnectionAuth =
  | { type: 'none' }
  | { type: 'bearer'; token: string }
  | { type: 'client_credentials'; tokenUrl: string; clientId: string; clientSecret: string; scope?: string };

export interface RemoteFhirOptions {
  /** Longest one request (token, read, search page, transaction) may take. */
  timeoutMs: number;
  /** Whether loopback and private addresses may be called (CONNECTION_ALLOW_PRIVATE_ENDPOINTS). */
  allowPrivate: boolean;
}

/**
 * A failed exchange with a remote FHIR server. `status` is the HTTP status (undefined: no answer,
 * e.g. a timeout or a refused connection); `transient` says whether trying again later may help
 * (no answer, 408, 429, 5xx); `outcome` is the remote's OperationOutcome when it sent one, else
 * one that says what happened.
 */
export class RemoteFhirError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly transient: boolean,
    readonly outcome: OperationOutcome,
  ) {
    super(message);
    this.name = 'RemoteFhirError';
  }
}

const USER_AGENT = 'fhir-ai-server exchange';

/**
 * A FHIR R4 client for one connection, over fhir-kit-client: authenticates (bearer, or OAuth2
 * client credentials with the token cached until shortly before it expires and fetched again once
 * on a 401), bounds every request by a timeout, never follows redirects, and follows paging links
 * only on the connection's own origin (a remote cannot send the server, or its credentials,
 * elsewhere). Every failure is a RemoteFhirError.
 */
export class RemoteFhirClient {
  readonly baseUrl: string;
  private readonly client: FhirKitClient;
  private token?: { value: string; expiresAt: number };
  /** Every access token this client was given (a remote may echo an earlier one). */
  private readonly tokens = new Set<string>();
  private checked = false;

  constructor(
    baseUrl: string,
    private readonly auth: ConnectionAuth,
    private readonly options: RemoteFhirOptions,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.client = fhirKitClient({ baseUrl: this.baseUrl, customHeaders: { 'user-agent': USER_AGENT }, requestOptions: { redirect: 'error' } });
  }

  /** GET [base]/metadata. */
  capabilityStatement(): Promise<CapabilityStatement> {
    return this.call('GET metadata', (options) => this.client.capabilityStatement(options)) as Promise<CapabilityStatement>;
  }

  /** GET [base]/[type]?params: the first page of a search. */
  search(resourceType: string, params: Record<string, string>): Promise<Bundle> {
    return this.call(`GET ${resourceType}?${new URLSearchParams(params).toString()}`, (options) =>
      this.client.search({ resourceType, searchParams: params, options }),
    ) as Promise<Bundle>;
  }

  /** GET [base]/[type]/_history?_since=…&_count=…: the first page of a type's history (newest first). */
  history(resourceType: string, since: Date | null, count: number): Promise<Bundle> {
    const params = new URLSearchParams({ ...(since ? { _since: since.toISOString() } : {}), _count: String(count) });
    const url = `${this.baseUrl}/${resourceType}/_history?${params.toString()}`;
    return this.call(`GET ${resourceType}/_history?${params.toString()}`, (options) => this.client.request(url, { method: 'GET', options })) as Promise<Bundle>;
  }

  /** A page by its absolute URL (a Bundle's `next` link), refused unless it is under the connection's base URL. */
  page(url: string): Promise<Bundle> {
    const refusal = this.foreignUrl(url);
    if (refusal) return Promise.reject(this.scrubbed(new RemoteFhirError(refusal, undefined, false, outcomeOf('security', refusal))));
    return this.call(`GET ${url}`, (options) => this.client.request(url, { method: 'GET', options })) as Promise<Bundle>;
  }

  /** GET [base]/[type]/[id]; undefined when the remote says it does not exist (404) or is deleted (410). */
  async read(resourceType: string, id: string): Promise<Resource | undefined> {
    try {
      return (await this.call(`GET ${resourceType}/${id}`, (options) => this.client.read({ resourceType, id, options }))) as Resource;
    } catch (e) {
      if (e instanceof RemoteFhirError && (e.status === 404 || e.status === 410)) return undefined;
      throw e;
    }
  }

  /** POST [base] with a transaction Bundle; the transaction-response. */
  transaction(bundle: Bundle): Promise<Bundle> {
    return this.call('POST transaction', (options) => this.client.transaction({ body: bundle as never, options })) as Promise<Bundle>;
  }

  /** Whether `url` is on another origin or outside the base path (the reason), or undefined. */
  foreignUrl(url: string): string | undefined {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return `the remote sent a link that is not a URL: ${url.slice(0, 200)}`;
    }
    const base = new URL(this.baseUrl);
    const basePath = base.pathname.replace(/\/+$/, '');
    if (target.origin !== base.origin || !(target.pathname === basePath || target.pathname.startsWith(`${basePath}/`) || (basePath === '' && target.pathname.startsWith('/')))) {
      return `the remote sent a link outside ${this.baseUrl} (${target.origin}${target.pathname}); it is not followed`;
    }
    return undefined;
  }

  /**
   * What this client may send and a remote may echo back: the connection's secret (and HTTP Basic
   * pair) and every access token it was given. Whatever a remote says is scrubbed of them.
   */
  secrets(): string[] {
    return [...authSecrets(this.auth), ...this.tokens];
  }

  /** `text` (a remote's message) without this connection's secrets, in any of their usual encodings. */
  scrub(text: string): string {
    return scrub(text, this.secrets());
  }

  /** An OperationOutcome (a remote's, or one quoting it) without this connection's secrets. */
  redact(outcome: OperationOutcome): OperationOutcome {
    return redact(outcome, this.secrets());
  }

  private async call(what: string, send: (options: { signal: AbortSignal; headers: Record<string, string> }) => Promise<unknown>): Promise<unknown> {
    try {
      await this.checkAddresses();
      for (let attempt = 0; ; attempt++) {
        const headers = await this.authHeaders(attempt > 0);
        try {
          return await send({ signal: AbortSignal.timeout(this.options.timeoutMs), headers });
        } catch (e) {
          const error = this.asRemoteError(what, e);
          // A token the remote no longer accepts (revoked, or expired early): fetch a new one, once.
          if (error.status === 401 && this.auth.type === 'client_credentials' && attempt === 0) continue;
          throw error;
        }
      }
    } catch (e) {
      // The one way out of a failed exchange: nothing the remote echoed of our credentials goes further.
      throw this.scrubbed(this.asRemoteError(what, e));
    }
  }

  private scrubbed(e: RemoteFhirError): RemoteFhirError {
    const error = new RemoteFhirError(this.scrub(e.message), e.status, e.transient, this.redact(e.outcome));
    if (e.stack) error.stack = this.scrub(e.stack);
    return error;
  }

  private async checkAddresses(): Promise<void> {
    if (this.checked) return;
    for (const url of [this.baseUrl, ...(this.auth.type === 'client_credentials' ? [this.auth.tokenUrl] : [])]) {
      const refusal = await endpointRefusal(url, this.options.allowPrivate);
      if (refusal) {
        const message = refusal.replace('SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS', 'CONNECTION_ALLOW_PRIVATE_ENDPOINTS');
        throw new RemoteFhirError(message, undefined, false, outcomeOf('security', message));
      }
    }
    this.checked = true;
  }

  private async authHeaders(refresh: boolean): Promise<Record<string, string>> {
    if (this.auth.type === 'none') return {};
    if (this.auth.type === 'bearer') return { authorization: `Bearer ${this.auth.token}` };
    if (refresh || !this.token || this.token.expiresAt <= Date.now()) {
      this.token = await this.fetchToken(this.auth);
      this.tokens.add(this.token.value);
    }
    return { authorization: `Bearer ${this.token.value}` };
  }

  /** OAuth2 client credentials (RFC 6749 §4.4), the client authenticating with HTTP Basic (§2.3.1). */
  private async fetchToken(auth: Extract<ConnectionAuth, { type: 'client_credentials' }>): Promise<{ value: string; expiresAt: number }> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (auth.scope) form.set('scope', auth.scope);
    const basic = Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret)}`).toString('base64');
    let res: Response;
    try {
      res = await fetch(auth.tokenUrl, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': USER_AGENT },
        body: form.toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (e) {
      const message = `token request to ${auth.tokenUrl} failed: ${causeOf(e)}`;
      throw new RemoteFhirError(message, undefined, true, outcomeOf('transient', message));
    }
    const text = await res.text().catch(() => '');
    let body: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // reported below
    }
    if (!res.ok || typeof body.access_token !== 'string') {
      const why = [body.error, body.error_description].filter((x) => typeof x === 'string').join(': ') || text.slice(0, 200) || 'no access_token';
      const message = `token request to ${auth.tokenUrl} answered ${res.status}: ${why}`;
      throw new RemoteFhirError(message, res.status, isTransientStatus(res.status), outcomeOf(res.status === 401 || res.status === 400 ? 'login' : 'exception', message));
    }
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 300;
    // Fetched again a little before it expires, so a request never carries a token about to lapse.
    return { value: body.access_token, expiresAt: Date.now() + Math.max(1, seconds - 30) * 1000 };
  }

  private asRemoteError(what: string, e: unknown): RemoteFhirError {
    if (e instanceof RemoteFhirError) return e;
    const response = (e as { response?: { status?: number; data?: unknown } }).response;
    if (response && typeof response.status === 'number') {
      const status = response.status;
      const data = response.data as Resource | string | undefined;
      const remote = typeof data === 'object' && data?.resourceType === 'OperationOutcome' ? (data as OperationOutcome) : undefined;
      const detail = remote?.issue?.map((i) => i.diagnostics ?? i.details?.text).filter(Boolean).join('; ') || (typeof data === 'string' ? data.slice(0, 200) : '');
      const message = `${what} answered ${status}${detail ? `: ${detail}` : ''}`;
      return new RemoteFhirError(message, status, isTransientStatus(status), remote ?? outcomeOf(status >= 500 ? 'transient' : 'processing', message));
    }
    const message = `${what} failed: ${causeOf(e)}`;
    return new RemoteFhirError(message, undefined, true, outcomeOf('transient', message));
  }
}

export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** An OperationOutcome with one error issue. */
export function outcomeOf(code: string, diagnostics: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: code as never, diagnostics }] };
}

function causeOf(e: unknown): string {
  // DOMException (the timeout) is not an Error in every realm, so go by name and message.
  const err = e as { name?: unknown; message?: unknown; cause?: { message?: unknown } } | undefined;
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return 'no answer within the timeout';
  if (typeof err?.message === 'string') return typeof err.cause?.message === 'string' ? `${err.message} (${err.cause.message})` : err.message;
  return String(e);
}
