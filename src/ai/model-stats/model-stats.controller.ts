import { Controller, Get, Param, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import type { AuthContext } from '../../auth/auth.types';
import { badRequest, forbidden } from '../../fhir/operation-outcome';
import { ModelStatsService, type ModelStats, type PredictionItem } from './model-stats.service';

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** A timestamptz as PostgreSQL prints it (the cursor's position). */
const AT = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:?\d{2})?|Z)?$/;
const DEFAULT_WINDOW = 10_000;
const MAX_WINDOW = 100_000;
const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;

/** Per-version statistics and the predictions each version made, for data scientists and administrators. */
@Controller('api/models')
export class ModelStatsController {
  constructor(private readonly stats: ModelStatsService) {}

  /** `?window=` latest predictions to compute distributions over (default 10,000); `?since=` an ISO date-time. */
  @Get(':id/stats')
  async get(@Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: Request): Promise<ModelStats> {
    requireModelReader(req.auth);
    return this.stats.stats(modelId(id), integer(query.window, 'window', DEFAULT_WINDOW, MAX_WINDOW), since(query.since));
  }

  /** Newest first: `?_count=` (default 50, at most 1000), `?patient=Patient/{id}`, `?cursor=` from the previous page's `next`. */
  @Get(':id/predictions')
  async list(@Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: Request): Promise<{ model: string; count: number; items: PredictionItem[]; next: string | null }> {
    requireModelReader(req.auth);
    const model = modelId(id);
    const count = integer(query._count, '_count', DEFAULT_COUNT, MAX_COUNT);
    const patient = patientOf(query.patient);
    const page = await this.stats.page(model, count, cursor(query.cursor), patient);
    let next: string | null = null;
    if (page.next) {
      const params = new URLSearchParams({ _count: String(count), ...(patient ? { patient: `Patient/${patient}` } : {}), cursor: Buffer.from(JSON.stringify([page.next.at, page.next.jobId])).toString('base64url') });
      next = `/api/models/${encodeURIComponent(model)}/predictions?${params}`;
    }
    return { model, count: page.items.length, items: page.items, next };
  }
}

/** Model statistics are for data scientists (the `models` scope) and administrators (`admin`). */
function requireModelReader(auth: AuthContext | undefined): void {
  if (!auth?.scopes.includes('models') && !auth?.scopes.includes('admin')) {
    throw forbidden('Only data scientists and administrators read model statistics (scope "models" or "admin")');
  }
}

function modelId(id: string): string {
  if (!ID.test(id)) throw badRequest(`"${id}" is not a model version id`, ['id']);
  return id;
}

function integer(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) throw badRequest(`${name} must be a whole number from 1 to ${max}`, [name]);
  return n;
}

function since(value: unknown): Date | undefined {
  if (value === undefined) return undefined;
  const d = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw badRequest('since must be an ISO date or date-time, e.g. 2026-11-01T00:00:00Z', ['since']);
  return d;
}

function patientOf(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const m = typeof value === 'string' ? /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(value) : null;
  if (!m) throw badRequest('patient must be a Patient reference such as "Patient/123"', ['patient']);
  return m[1];
}

function cursor(value: unknown): { at: string; jobId: string } | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(String(value), 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string' && AT.test(parsed[0])) {
      return { at: parsed[0], jobId: parsed[1] };
    }
  } catch {
    // falls through to the error below
  }
  throw badRequest('cursor is not one this server gave (use the "next" link of the previous page)', ['cursor']);
}
