import { Controller, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { AccessPolicy } from '../../auth/access/access-policy';
import { OperationOutcomeError } from '../../fhir/operation-outcome';
import { sendJson } from '../../fhir/rest/fhir-http';
import { txContext } from '../../fhir/rest/fhir.controller';
import { NDJSON_TYPES, ndjsonLines } from './ndjson-lines';
import { ReadingsImportService } from './readings-import.service';

/**
 * POST /api/monitoring/readings: a stream of wearable or monitor readings as NDJSON
 * (application/x-ndjson, application/fhir+ndjson or application/ndjson; one Observation a line),
 * each stored through the one write path and scored by the anomaly plugin like any Observation.
 * 200 with a batch-response Bundle (one entry per non-blank line: 201 and the location, or the
 * line's status and OperationOutcome); the body is bounded by MAX_BODY_BYTES (413).
 */
@Controller('api/monitoring')
export class MonitoringController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly access: AccessPolicy,
    private readonly readings: ReadingsImportService,
  ) {}

  @Post('readings')
  async stream(@Req() req: Request, @Res() res: Response): Promise<void> {
    this.access.requireWrite(req.auth, 'Observation', 'c');
    if (!req.is(NDJSON_TYPES)) throw OperationOutcomeError.of(415, 'not-supported', `Send the readings as NDJSON (${NDJSON_TYPES.join(', ')}), one Observation a line`);
    const declared = Number(req.headers['content-length']);
    if (declared > this.config.maxBodyBytes) throw OperationOutcomeError.of(413, 'too-costly', `The body (${declared} bytes) is larger than ${this.config.maxBodyBytes} bytes (MAX_BODY_BYTES)`);
    const { bundle, created, failed } = await this.readings.import(txContext(req), ndjsonLines(req, this.config.maxBodyBytes));
    res.setHeader('X-Readings-Created', String(created));
    res.setHeader('X-Readings-Failed', String(failed));
    sendJson(res, 200, JSON.stringify(bundle));
  }
}
