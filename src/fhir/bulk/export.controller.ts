import { Body, Controller, Delete, Get, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { OperationOutcomeError, informational } from '../operation-outcome';
import { fhirBase, negotiate, requireFhirId, requireJsonBody, sendJson } from '../rest/fhir-http';
import { parametersToPairs } from './export-request';
import { ExportService } from './export.service';
import type { ExportLevel } from './export.repository';

export const NDJSON = 'application/fhir+ndjson';

/**
 * Bulk Data Access (IG 2.0.0) $export: kick-off at system, Patient and Group level (GET, or POST
 * with Parameters), status polling and cancelling at the Content-Location it answers, and the
 * output files. Listed before FhirController in the module, so that these literal routes win
 * over `GET /fhir/:type/:id` and its kin.
 */
@Controller('fhir')
export class BulkExportController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly exports: ExportService,
  ) {}

  @Get('$export')
  systemGet(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.kickoff(req, res, 'system', undefined);
  }

  @Post('$export')
  systemPost(@Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    return this.kickoff(req, res, 'system', undefined, body);
  }

  @Get('Patient/$export')
  patientGet(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.kickoff(req, res, 'patient', undefined);
  }

  @Post('Patient/$export')
  patientPost(@Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    return this.kickoff(req, res, 'patient', undefined, body);
  }

  @Get('Group/:id/$export')
  groupGet(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    return this.kickoff(req, res, 'group', id);
  }

  @Post('Group/:id/$export')
  groupPost(@Param('id') id: string, @Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    return this.kickoff(req, res, 'group', id, body);
  }

  /** 202 with X-Progress while running; 200 with the manifest when done; 500 OperationOutcome if it failed. */
  @Get('$export-status/:id')
  async status(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    jsonOnly(req);
    const answer = await this.exports.status(req.auth, id, fhirBase(req, this.config));
    if (!answer.done) {
      res.setHeader('X-Progress', answer.progress);
      res.setHeader('Retry-After', '2');
      res.status(202).end();
      return;
    }
    if (answer.expires) res.setHeader('Expires', answer.expires.toUTCString());
    res.status(200).type('application/json').send(JSON.stringify(answer.manifest));
  }

  /** Cancels a running export, or tells the server the client is done with a finished one's files. */
  @Delete('$export-status/:id')
  async cancel(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    jsonOnly(req);
    await this.exports.cancel(req.auth, ctxOf(req), id);
    sendJson(res, 202, JSON.stringify(informational(`Export ${id} cancelled; its files are removed`)));
  }

  @Get('$export-file/:id/:file')
  async file(@Param('id') id: string, @Param('file') file: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    req.fhirFormat = 'json'; // errors as JSON; the file itself is NDJSON whatever Accept says
    const text = await this.exports.file(req.auth, id, file);
    res.status(200).type(NDJSON).send(text);
  }

  private async kickoff(req: Request, res: Response, level: ExportLevel, groupId: string | undefined, body?: unknown): Promise<void> {
    jsonOnly(req);
    if (groupId !== undefined) requireFhirId('Group', groupId, 'read');
    let params = queryParams(req);
    if (req.method === 'POST' && req.headers['content-length'] && req.headers['content-length'] !== '0') {
      requireJsonBody(req);
      params = [...params, ...parametersToPairs(body)];
    }
    const base = fhirBase(req, this.config);
    const id = await this.exports.kickoff({
      // A data scientist's read scopes count here only, as their exports are always de-identified (ExportService).
      auth: req.auth?.role === 'data-scientist' ? { ...req.auth, deidentifiedExport: true } : req.auth,
      ctx: ctxOf(req),
      level,
      groupId,
      method: req.method,
      params,
      prefer: typeof req.headers.prefer === 'string' ? req.headers.prefer : undefined,
      requestUrl: `${base}${req.originalUrl.replace(/^\/fhir/, '')}`,
    });
    const location = `${base}/$export-status/${id}`;
    res.setHeader('Content-Location', location);
    sendJson(res, 202, JSON.stringify(informational(`Export ${id} accepted; poll ${location} for its status`)));
  }
}

/** The IG's kick-off and status answers are JSON only (Accept: application/fhir+json). */
function jsonOnly(req: Request): void {
  if (negotiate(req) === 'xml') {
    req.fhirFormat = 'json';
    throw OperationOutcomeError.of(406, 'not-supported', 'Bulk Data requests answer application/fhir+json only');
  }
}

function queryParams(req: Request): Array<[string, string]> {
  const q = req.originalUrl.indexOf('?');
  return q >= 0 ? [...new URLSearchParams(req.originalUrl.slice(q + 1)).entries()] : [];
}

function ctxOf(req: Request) {
  return { actor: req.auth ? `client:${req.auth.clientId}` : 'anonymous', requestId: req.requestId };
}
