import { Controller, Get, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { PharmacyService } from './pharmacy.service';

/**
 * Pharmacists' views: GET /api/pharmacy/stock[?code=...&_count=...] (stocked batches with expiry
 * and reorder state, and per-drug totals of usable and expired units) and GET /api/pharmacy/reorder
 * (batches below their threshold, with their reorder Task). Needs search access to Medication.
 */
@Controller('api/pharmacy')
export class PharmacyController {
  constructor(private readonly pharmacy: PharmacyService) {}

  @Get('stock')
  stock(@Query() query: Record<string, unknown>, @Req() req: Request) {
    return this.pharmacy.stock(req.auth, query);
  }

  @Get('reorder')
  reorder(@Query() query: Record<string, unknown>, @Req() req: Request) {
    return this.pharmacy.reorder(req.auth, query);
  }
}
