import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { adminContext } from '../admin-context';
import { parseConnectionPatch, parseNewConnection } from './connection-request';
import { runView } from './connection-view';
import { ConnectionsService, type CheckResult } from './connections.service';

/**
 * The administrators' API for connections to external FHIR servers: create (with its Endpoint),
 * list, read (status, last check and sync, counts, failures, dead letters), change, turn off,
 * check against the remote's CapabilityStatement, and ask for a pull.
 */
@Controller('api/connections')
export class ConnectionsController {
  constructor(private readonly connections: ConnectionsService) {}

  @Post()
  @HttpCode(201)
  async create(@Req() req: Request, @Body() body: unknown, @Res({ passthrough: true }) res: Response): Promise<Record<string, unknown>> {
    const ctx = adminContext(req);
    const row = await this.connections.create(ctx, parseNewConnection(body));
    res.setHeader('Location', `/api/connections/${row.id}`);
    return this.connections.viewOf(row);
  }

  @Get()
  list(@Req() req: Request): Promise<Record<string, unknown>[]> {
    adminContext(req);
    return this.connections.list();
  }

  @Get(':id')
  get(@Req() req: Request, @Param('id') id: string): Promise<Record<string, unknown>> {
    adminContext(req);
    return this.connections.view(id);
  }

  @Patch(':id')
  async update(@Req() req: Request, @Param('id') id: string, @Body() body: unknown): Promise<Record<string, unknown>> {
    const ctx = adminContext(req);
    return this.connections.viewOf(await this.connections.update(ctx, id, parseConnectionPatch(body)));
  }

  /** Turns the connection (and its Endpoint) off; its history, remote ids and failures stay. */
  @Delete(':id')
  @HttpCode(200)
  async remove(@Req() req: Request, @Param('id') id: string): Promise<Record<string, unknown>> {
    const ctx = adminContext(req);
    return this.connections.viewOf(await this.connections.turnOff(ctx, id));
  }

  @Post(':id/check')
  @HttpCode(200)
  check(@Req() req: Request, @Param('id') id: string): Promise<CheckResult> {
    return this.connections.check(adminContext(req), id);
  }

  @Post(':id/sync')
  @HttpCode(202)
  async sync(@Req() req: Request, @Param('id') id: string, @Res({ passthrough: true }) res: Response): Promise<Record<string, unknown>> {
    const { run, created } = await this.connections.requestSync(adminContext(req), id);
    res.setHeader('Content-Location', `/api/connections/${id}/syncs/${run.id}`);
    return { runId: run.id, status: run.status, created, run: runView(run) };
  }

  @Get(':id/syncs/:runId')
  async syncRun(@Req() req: Request, @Param('id') id: string, @Param('runId') runId: string): Promise<Record<string, unknown>> {
    adminContext(req);
    return runView(await this.connections.run(id, runId));
  }
}
