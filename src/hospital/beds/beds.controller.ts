import { Controller, Get, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { AccessPolicy } from '../../auth/access/access-policy';
import { forbidden } from '../../fhir/operation-outcome';
import { BedsService, type ForecastReport, type OccupancyReport } from './beds.service';

/**
 * Beds at a glance: the beds now, occupancy over time and its forecast. Aggregates over every
 * patient's encounters, so callers need search on Location and Encounter and no patient context.
 */
@Controller('api/beds')
export class BedsController {
  constructor(
    private readonly beds: BedsService,
    private readonly access: AccessPolicy,
  ) {}

  @Get()
  async list(@Req() req: Request): Promise<unknown[]> {
    this.requireReader(req);
    return (await this.beds.beds()).map((b) => ({
      bed: `Location/${b.id}`,
      name: b.name,
      ward: b.ward ? `Location/${b.ward}` : null,
      occupied: b.occupied,
      patient: b.patientId ? `Patient/${b.patientId}` : null,
      occupancy_prediction: b.occupancyPrediction ?? null,
    }));
  }

  @Get('occupancy')
  occupancy(@Req() req: Request, @Query('from') from?: string, @Query('to') to?: string, @Query('interval') interval?: string): Promise<OccupancyReport> {
    this.requireReader(req);
    return this.beds.occupancy(from, to, interval);
  }

  @Get('forecast')
  forecast(@Req() req: Request, @Query('days') days?: string): Promise<ForecastReport> {
    this.requireReader(req);
    return this.beds.forecast(days);
  }

  private requireReader(req: Request): void {
    this.access.require(req.auth, 'Location', 's');
    this.access.require(req.auth, 'Encounter', 's');
    if (this.access.compartment(req.auth) !== undefined) throw forbidden('Bed occupancy covers every patient: not for patient-context tokens');
  }
}
