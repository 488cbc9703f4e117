import { Catch, HttpException, Inject, NotFoundException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { LOGGER } from '../core/core.module';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { OperationOutcomeError, outcome, type IssueCode } from '../fhir/operation-outcome';
import { resourceToXml } from '../fhir/rest/fhir-xml';
import { negotiate, responseType } from '../fhir/rest/fhir-http';
import { allowedMethods, methodNotAllowed } from './allowed-methods';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/**
 * The one place where errors become HTTP responses: every 4xx/5xx is an OperationOutcome.
 * Unexpected errors are logged with their stack and answered without it (no SQL, no internals).
 */
@Catch()
export class OperationOutcomeFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    const { status, body, allow } = this.toOutcome(exception, req);
    if (res.headersSent) return;
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="fhir-ai-server"');
    const retryAfter = (exception as { retryAfter?: number }).retryAfter;
    if (status === 429 && retryAfter) res.setHeader('Retry-After', String(retryAfter));
    if (status === 405 && allow) res.setHeader('Allow', allow.join(', '));
    // Errors raised before the handler negotiated (body parsing, authentication) answer in the
    // format the client asked for too; an Accept the server cannot produce falls back to JSON.
    if (req.fhirFormat === undefined && req.originalUrl?.startsWith('/fhir')) {
      try {
        negotiate(req);
      } catch {
        req.fhirFormat = 'json';
      }
    }
    if (req.fhirFormat === 'xml' && (body as { resourceType?: string }).resourceType === 'OperationOutcome') {
      res.status(status).type(responseType(req)).send(resourceToXml(body as OperationOutcome));
      return;
    }
    res.status(status).type(req.fhirFormat === 'json' ? responseType(req) : FHIR_JSON).send(JSON.stringify(body));
  }

  private toOutcome(e: unknown, req: Request): { status: number; body: unknown; allow?: string[] } {
    if (e instanceof OperationOutcomeError) {
      // A 5xx of our own (e.g. a stored record that failed its integrity check) is an incident: logged with what the caller is not told.
      if (e.status >= 500) this.logger.error({ err: e.message, method: req.method, path: req.path, requestId: req.requestId }, 'Server error answered');
      return { status: e.status, body: e.outcome, allow: (e as { allow?: string[] }).allow };
    }
    // No route for this method, but the path has routes for others: 405 naming them, not 404.
    if (e instanceof NotFoundException) {
      const allow = allowedMethods(req);
      if (allow.length) return { status: 405, body: methodNotAllowed(req, allow).outcome, allow };
    }
    // body-parser errors: malformed JSON, oversized or badly encoded bodies.
    const bp = e as { type?: string; status?: number; message?: string };
    if (bp && typeof bp.type === 'string' && typeof bp.status === 'number') {
      const byType: Record<string, [number, IssueCode, string]> = {
        'entity.parse.failed': [400, 'structure', `The body is not valid JSON: ${bp.message}`],
        'entity.too.large': [413, 'too-long', 'The body is larger than the configured limit (MAX_BODY_BYTES)'],
        'encoding.unsupported': [415, 'not-supported', 'Unsupported content encoding'],
        'charset.unsupported': [415, 'not-supported', 'Unsupported charset'],
        'request.aborted': [400, 'incomplete', 'The request was aborted'],
      };
      const [status, code, message] = byType[bp.type] ?? [bp.status, 'invalid', 'The request body could not be read'];
      return { status, body: outcome([{ severity: 'error', code, diagnostics: message }]) };
    }
    if (e instanceof HttpException) {
      const status = e.getStatus();
      const code: IssueCode = status === 404 ? 'not-found' : status === 405 ? 'not-supported' : status === 429 ? 'throttled' : status >= 500 ? 'exception' : 'invalid';
      const message = status === 404 ? `No route for ${req.method} ${req.path}` : e.message;
      return { status, body: outcome([{ severity: 'error', code, diagnostics: message }]) };
    }
    this.logger.error({ err: e, method: req.method, path: req.path, requestId: req.requestId }, 'Unhandled error');
    return {
      status: 500,
      body: outcome([{ severity: 'error', code: 'exception', diagnostics: `Internal server error (request ${req.requestId ?? 'unknown'})` }]),
    };
  }
}
