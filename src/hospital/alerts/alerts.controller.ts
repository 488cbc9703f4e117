import { Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { txContext } from '../../fhir/rest/fhir.controller';
import { AlertsService, type AlertList, type AlertView } from './alerts.service';

/**
 * Emergency alerts for responders (clinician or admin tokens): GET /api/alerts?status=raised|
 * acknowledged|resolved|open|all&from=&to= (alerts raised in the window, default the last 30 days,
 * with p50/p95 time to acknowledge and to resolve), POST /api/alerts/{id}/acknowledge and /resolve.
 */
@Controller('api/alerts')
export class AlertsController {
  constructor(private readonly alerts: AlertsService) {}

  @Get()
  list(@Query() query: Record<string, unknown>, @Req() req: Request): Promise<AlertList> {
    return this.alerts.list(req.auth, query);
  }

  @Post(':id/acknowledge')
  @HttpCode(200)
  acknowledge(@Param('id') id: string, @Req() req: Request): Promise<AlertView> {
    return this.alerts.decide(req.auth, txContext(req), id, 'acknowledge');
  }

  @Post(':id/resolve')
  @HttpCode(200)
  resolve(@Param('id') id: string, @Req() req: Request): Promise<AlertView> {
    return this.alerts.decide(req.auth, txContext(req), id, 'resolve');
  }
}
