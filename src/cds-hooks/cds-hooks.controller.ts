import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { txContext } from '../fhir/rest/fhir.controller';
import { fhirBase } from '../fhir/rest/fhir-http';
import { callerOf } from '../recommendations/recommendations.controller';
import type { Card } from './cds-cards';
import { CdsHooksService } from './cds-hooks.service';
import type { CdsServiceDefinition } from './cds-services';

/** CDS Hooks: GET /cds-services (discovery), POST /cds-services/{id} (a hook call), POST /cds-services/{id}/feedback. */
@Controller('cds-services')
export class CdsHooksController {
  constructor(
    private readonly cds: CdsHooksService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  discovery(@Req() req: Request): { services: CdsServiceDefinition[] } {
    return this.cds.discovery(req.auth);
  }

  @Post(':id')
  @HttpCode(200)
  call(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<{ cards: Card[] }> {
    return this.cds.call(req.auth, callerOf(req), id, body, fhirBase(req, this.config));
  }

  @Post(':id/feedback')
  @HttpCode(200)
  feedback(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<Record<string, never>> {
    return this.cds.feedback(req.auth, callerOf(req), txContext(req), id, body);
  }
}
