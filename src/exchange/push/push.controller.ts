import { Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { badRequest } from '../../fhir/operation-outcome';
import { adminContext } from '../admin-context';
import { PushAdminService } from './push-admin.service';
import { PUSH_STATUSES, type PushStatus } from './push.repository';
import { pushView } from './push-view';

/**
 * Administrators' view of what is pushed to a connection: the dead-letter list (pushes whose last
 * attempt failed, each with its OperationOutcome), replaying one, and the push log.
 */
@Controller('api/connections')
export class PushController {
  constructor(private readonly admin: PushAdminService) {}

  @Get(':id/dead-letters')
  async deadLetters(@Req() req: Request, @Param('id') id: string): Promise<Record<string, unknown>> {
    adminContext(req);
    const rows = await this.admin.list(id, 'dead', 1000);
    return { connection: id, count: rows.length, items: rows.map(pushView) };
  }

  @Post(':id/dead-letters/:pushId/replay')
  @HttpCode(202)
  async replay(@Req() req: Request, @Param('id') id: string, @Param('pushId') pushId: string): Promise<Record<string, unknown>> {
    adminContext(req);
    const { row, jobId } = await this.admin.replay(id, pushId);
    return { ...pushView(row), jobId };
  }

  @Get(':id/pushes')
  async pushes(@Req() req: Request, @Param('id') id: string, @Query() query: Record<string, unknown>): Promise<Record<string, unknown>> {
    adminContext(req);
    const unknown = Object.keys(query).filter((k) => k !== 'status');
    if (unknown.length) throw badRequest(`Unknown parameter(s) ${unknown.join(', ')}: filter by status`, unknown);
    const status = query.status;
    if (status !== undefined && !PUSH_STATUSES.includes(status as PushStatus)) throw badRequest(`status must be one of ${PUSH_STATUSES.join(', ')}`, ['status']);
    const rows = await this.admin.list(id, status as PushStatus | undefined, 1000);
    return { connection: id, ...(status ? { status } : {}), count: rows.length, items: rows.map(pushView) };
  }
}
