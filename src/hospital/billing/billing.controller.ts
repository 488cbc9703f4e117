import { Body, Controller, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { TxContext } from '../../database/database.service';
import { BillingService } from './billing.service';

/**
 * Billing: POST /api/billing/claims/from-encounter/{encounterId} with an optional
 * {"unitPrices": {"system|code": 120.5}, "provider": "Practitioner/id"} builds a Claim from the
 * encounter (its procedures as items, conditions as diagnoses) and writes it: 201 with the Claim,
 * its billing-error check included. GET /api/billing/claims[?flagged=true|false&_count=n] lists the
 * billing rows with their flags and reasons.
 */
@Controller('api/billing')
export class BillingController {
  constructor(private readonly billing: BillingService) {}

  @Post('claims/from-encounter/:encounterId')
  async fromEncounter(@Param('encounterId') encounterId: string, @Body() body: unknown, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const outcome = await this.billing.claimFromEncounter(req.auth, txContextOf(req), encounterId, body);
    res.status(201);
    res.setHeader('Location', `/fhir/Claim/${outcome.resource.id}/_history/${outcome.versionId}`);
    res.setHeader('ETag', `W/"${outcome.versionId}"`);
    return outcome.resource;
  }

  @Get('claims')
  claims(@Query() query: Record<string, unknown>, @Req() req: Request) {
    return this.billing.claims(req.auth, query);
  }
}

function txContextOf(req: Request): TxContext {
  return { actor: req.auth ? `client:${req.auth.clientId}` : 'anonymous', requestId: req.requestId };
}
