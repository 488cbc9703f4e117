import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { txContext } from '../fhir/rest/fhir.controller';
import type { Caller } from './recommendation-audit';
import type { RecommendationView } from './recommendation-view';
import { RecommendationsService, type ListQuery, type ListResult } from './recommendations.service';

/**
 * Clinicians' AI recommendations: GET /api/recommendations?status=pending|approved|rejected|all
 * &patient=Patient/{id}, GET /api/recommendations/{id}, and POST .../{id}/approve or /reject with
 * {"reason": "..."} (required to reject).
 */
@Controller('api/recommendations')
export class RecommendationsController {
  constructor(private readonly recommendations: RecommendationsService) {}

  @Get()
  list(@Query() query: ListQuery, @Req() req: Request): Promise<ListResult> {
    return this.recommendations.list(req.auth, query);
  }

  @Get(':id')
  get(@Param('id') id: string, @Req() req: Request): Promise<RecommendationView> {
    return this.recommendations.get(req.auth, id);
  }

  @Post(':id/approve')
  @HttpCode(200)
  approve(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<RecommendationView> {
    return this.recommendations.decide(req.auth, callerOf(req), txContext(req), id, 'approve', body);
  }

  @Post(':id/reject')
  @HttpCode(200)
  reject(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<RecommendationView> {
    return this.recommendations.decide(req.auth, callerOf(req), txContext(req), id, 'reject', body);
  }
}

export function callerOf(req: Request): Caller {
  return { clientId: req.auth?.clientId ?? 'anonymous', requestId: req.requestId, address: req.clientAddress ?? req.ip, path: req.path };
}
