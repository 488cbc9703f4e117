import type { Coding } from '@medplum/fhirtypes';
import { OperationOutcomeError, outcome } from '../fhir/operation-outcome';
import type { CdsServiceDefinition } from './cds-services';

/** A CDS Hooks request (CDS Hooks 1.0/2.0 "HTTP Request") for the patient-view hook. */
export interface HookRequest {
  hook: string;
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: { access_token: string; token_type: 'Bearer'; expires_in: number; scope: string; subject: string; patient?: string };
  context: { userId: string; patientId: string; encounterId?: string };
  prefetch?: Record<string, unknown>;
}

/** One entry of a feedback request (CDS Hooks 2.0 "Feedback"). */
export interface FeedbackEntry {
  card: string;
  outcome: 'accepted' | 'overridden';
  acceptedSuggestions: string[];
  overrideReason?: { reason?: Coding; userComment?: string };
  outcomeTimestamp: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const USER_ID = /^(Practitioner|PractitionerRole|Patient|RelatedPerson)\/([A-Za-z0-9\-.]{1,64})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Validates a hook call for `service`; a 400 OperationOutcome names every problem. Pure. */
export function parseHookRequest(body: unknown, service: CdsServiceDefinition): HookRequest {
  const problems: Array<[string, string]> = [];
  if (!isObject(body)) throw invalid([['', 'The body must be a CDS Hooks request: a JSON object with hook, hookInstance and context']]);
  if (body.hook !== service.hook) problems.push(['hook', `hook must be "${service.hook}" for the service ${service.id}, got ${describe(body.hook)}`]);
  if (typeof body.hookInstance !== 'string' || !UUID.test(body.hookInstance)) problems.push(['hookInstance', 'hookInstance must be a UUID']);
  if (body.fhirServer !== undefined && !isUrl(body.fhirServer)) problems.push(['fhirServer', 'fhirServer must be an http(s) URL']);
  if (body.fhirAuthorization !== undefined && body.fhirAuthorization !== null) {
    const a = body.fhirAuthorization;
    if (!isObject(a)) problems.push(['fhirAuthorization', 'fhirAuthorization must be an object']);
    else {
      if (body.fhirServer === undefined) problems.push(['fhirAuthorization', 'fhirAuthorization is given without fhirServer']);
      for (const k of ['access_token', 'scope', 'subject']) if (typeof a[k] !== 'string' || !a[k]) problems.push([`fhirAuthorization.${k}`, `fhirAuthorization.${k} must be a non-empty string`]);
      if (a.token_type !== 'Bearer') problems.push(['fhirAuthorization.token_type', 'fhirAuthorization.token_type must be "Bearer"']);
      if (typeof a.expires_in !== 'number' || !Number.isInteger(a.expires_in) || a.expires_in < 0) problems.push(['fhirAuthorization.expires_in', 'fhirAuthorization.expires_in must be a whole number of seconds']);
    }
  }
  const ctx = body.context;
  if (!isObject(ctx)) problems.push(['context', 'context must be an object with userId and patientId']);
  else {
    if (typeof ctx.userId !== 'string' || !USER_ID.test(ctx.userId)) problems.push(['context.userId', 'context.userId must be a reference such as "Practitioner/123" (Practitioner, PractitionerRole, Patient or RelatedPerson)']);
    if (typeof ctx.patientId !== 'string' || !FHIR_ID.test(ctx.patientId)) problems.push(['context.patientId', 'context.patientId must be a FHIR id (the Patient in context)']);
    if (ctx.encounterId !== undefined && (typeof ctx.encounterId !== 'string' || !FHIR_ID.test(ctx.encounterId))) problems.push(['context.encounterId', 'context.encounterId must be a FHIR id']);
  }
  if (body.prefetch !== undefined && body.prefetch !== null) {
    if (!isObject(body.prefetch)) problems.push(['prefetch', 'prefetch must be an object keyed as the service\'s prefetch templates']);
    else {
      // The patient may be null (the client could not fetch it); if given it must be the one in context.
      const p = body.prefetch.patient;
      if (p !== undefined && p !== null) {
        if (!isObject(p) || p.resourceType !== 'Patient') problems.push(['prefetch.patient', 'prefetch.patient must be a Patient resource (or null)']);
        else if (isObject(ctx) && p.id !== ctx.patientId) problems.push(['prefetch.patient', `prefetch.patient is Patient/${String(p.id)}, not the context's Patient/${String(ctx.patientId)}`]);
      }
    }
  }
  if (problems.length) throw invalid(problems);
  return body as unknown as HookRequest;
}

/** Validates a feedback request: `{"feedback": [...]}`; a 400 names every problem. Pure. */
export function parseFeedback(body: unknown): FeedbackEntry[] {
  if (!isObject(body) || !Array.isArray(body.feedback) || !body.feedback.length) {
    throw invalid([['feedback', 'The body must be {"feedback": [...]} with at least one entry']]);
  }
  const problems: Array<[string, string]> = [];
  const entries = body.feedback as unknown[];
  entries.forEach((e, i) => {
    const at = `feedback[${i}]`;
    if (!isObject(e)) return void problems.push([at, `${at} must be an object`]);
    if (typeof e.card !== 'string' || !e.card) problems.push([`${at}.card`, `${at}.card must be the uuid of a card this service returned`]);
    if (e.outcome !== 'accepted' && e.outcome !== 'overridden') problems.push([`${at}.outcome`, `${at}.outcome must be "accepted" or "overridden"`]);
    if (typeof e.outcomeTimestamp !== 'string' || !DATE_TIME.test(e.outcomeTimestamp)) problems.push([`${at}.outcomeTimestamp`, `${at}.outcomeTimestamp must be an ISO 8601 date-time with a time zone`]);
    const accepted = e.acceptedSuggestions;
    if (accepted !== undefined) {
      if (!Array.isArray(accepted) || accepted.some((s) => !isObject(s) || typeof s.id !== 'string')) problems.push([`${at}.acceptedSuggestions`, `${at}.acceptedSuggestions must be a list of {"id": suggestion uuid}`]);
      else if (e.outcome !== 'accepted' && accepted.length) problems.push([`${at}.acceptedSuggestions`, `${at}.acceptedSuggestions go with the outcome "accepted" only`]);
    }
    const override = e.overrideReason;
    if (override !== undefined) {
      if (e.outcome !== 'overridden') problems.push([`${at}.overrideReason`, `${at}.overrideReason goes with the outcome "overridden" only`]);
      if (!isObject(override)) problems.push([`${at}.overrideReason`, `${at}.overrideReason must be an object with reason and/or userComment`]);
      else {
        if (override.reason !== undefined && (!isObject(override.reason) || typeof override.reason.code !== 'string')) problems.push([`${at}.overrideReason.reason`, `${at}.overrideReason.reason must be a Coding`]);
        if (override.userComment !== undefined && typeof override.userComment !== 'string') problems.push([`${at}.overrideReason.userComment`, `${at}.overrideReason.userComment must be a string`]);
      }
    }
  });
  if (problems.length) throw invalid(problems);
  return entries.map((raw) => {
    const e = raw as Json;
    return {
      card: e.card as string,
      outcome: e.outcome as FeedbackEntry['outcome'],
      acceptedSuggestions: ((e.acceptedSuggestions as Array<{ id: string }> | undefined) ?? []).map((s) => s.id),
      ...(e.overrideReason ? { overrideReason: e.overrideReason as FeedbackEntry['overrideReason'] } : {}),
      outcomeTimestamp: e.outcomeTimestamp as string,
    };
  });
}

/**
 * A FHIR base URL as the connections store theirs (URL-normalised: scheme and host in lower case,
 * default port dropped; no trailing slash), so that a CDS client's fhirServer compares equal. Pure.
 */
export function normalFhirBase(url: string): string {
  return new URL(url.trim()).toString().replace(/\/+$/, '');
}

function invalid(problems: Array<[string, string]>): OperationOutcomeError {
  return new OperationOutcomeError(
    400,
    outcome(problems.map(([path, diagnostics]) => ({ severity: 'error', code: 'invalid', diagnostics, ...(path ? { expression: [path] } : {}) }))),
  );
}

function isUrl(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}

function describe(v: unknown): string {
  return typeof v === 'string' ? `"${v.slice(0, 60)}"` : v === undefined ? 'nothing' : typeof v;
}
