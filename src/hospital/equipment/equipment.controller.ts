import { Controller, Get, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { AccessPolicy } from '../../auth/access/access-policy';
import { badRequest, forbidden } from '../../fhir/operation-outcome';
import { EquipmentService, type AvailabilityReport, type MaintenanceReport } from './equipment.service';

/**
 * Equipment and staff (the `resources` table): who and what is free in a window, and which
 * devices are due for maintenance. Bookings span every patient's appointments, so callers need
 * search on Device, PractitionerRole and Appointment and no patient context.
 */
@Controller('api/resources')
export class EquipmentController {
  constructor(
    private readonly equipment: EquipmentService,
    private readonly access: AccessPolicy,
  ) {}

  @Get('availability')
  availability(@Req() req: Request, @Query('type') type?: string, @Query('from') from?: string, @Query('to') to?: string): Promise<AvailabilityReport> {
    this.requireReader(req, ['Device', 'PractitionerRole', 'Appointment']);
    return this.equipment.availability(type, from, to);
  }

  @Get('maintenance')
  maintenance(@Req() req: Request, @Query('flagged') flagged?: string): Promise<MaintenanceReport[]> {
    this.requireReader(req, ['Device']);
    if (flagged !== undefined && flagged !== 'true' && flagged !== 'false') throw badRequest('flagged must be true or false', ['flagged']);
    return this.equipment.maintenance(flagged === 'true');
  }

  private requireReader(req: Request, types: string[]): void {
    for (const t of types) this.access.require(req.auth, t, 's');
    if (this.access.compartment(req.auth) !== undefined) throw forbidden('Equipment and staff availability covers every patient: not for patient-context tokens');
  }
}
