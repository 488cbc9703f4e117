import { Body, Controller, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Appointment } from '@medplum/fhirtypes';
import { AccessPolicy } from '../../auth/access/access-policy';
import { APP_CONFIG } from '../../core/tokens';
import type { AppConfig } from '../../config/app-config';
import { badRequest } from '../../fhir/operation-outcome';
import { fhirBase, sendJson, setVersionHeaders } from '../../fhir/rest/fhir-http';
import { txContext } from '../../fhir/rest/fhir.controller';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import { CONFLICT_RESOLUTION_URL } from './appointment-booking';

/**
 * `POST /api/scheduling/book`: books an Appointment, moving it to the nearest free slot of the
 * doctor's schedule if its time is taken (what the conflict-resolution extension asks of a plain
 * FHIR create). Answers 201 with the stored Appointment, as `POST /fhir/Appointment` would.
 */
@Controller('api/scheduling')
export class SchedulingController {
  constructor(
    private readonly writer: ResourceWriteService,
    private readonly access: AccessPolicy,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('book')
  async book(@Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    this.access.requireWrite(req.auth, 'Appointment', 'c');
    if (!body || typeof body !== 'object' || Array.isArray(body) || (body as { resourceType?: unknown }).resourceType !== 'Appointment') {
      throw badRequest('The body must be an Appointment resource');
    }
    const appointment = body as Appointment;
    const asked: Appointment = {
      ...appointment,
      extension: [...(appointment.extension ?? []).filter((e) => e.url !== CONFLICT_RESOLUTION_URL), { url: CONFLICT_RESOLUTION_URL, valueCode: 'nearest-slot' }],
    };
    const result = await this.writer.create(txContext(req), asked, 'Appointment');
    setVersionHeaders(res, result);
    res.setHeader('Location', `${fhirBase(req, this.config)}/Appointment/${result.resource.id}/_history/${result.versionId}`);
    sendJson(res, 201, JSON.stringify(result.resource));
  }
}
