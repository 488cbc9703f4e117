import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { forbidden } from '../fhir/operation-outcome';
import { MetricsExposition } from './metrics-exposition.service';

/**
 * Prometheus metrics of every API and worker process. Administrators only: Prometheus
 * authenticates with an admin client through its `oauth2` client_credentials scrape setting.
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly exposition: MetricsExposition) {}

  @Get()
  async metrics(@Req() req: Request, @Res() res: Response): Promise<void> {
    if (!req.auth?.scopes.includes('admin')) throw forbidden('Metrics are for administrators');
    const { contentType, body } = await this.exposition.render();
    res.status(200).setHeader('Content-Type', contentType);
    res.end(body);
  }
}
