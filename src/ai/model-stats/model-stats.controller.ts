import { Controller, Get, Inject, Param, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import type { AuthContext } from '../../auth/auth.types';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { createDeidentifier, type Deidentifier } from '../../fhir/bulk/deidentify';
import { deidentificationKey } from '../../fhir/bulk/deidentify-key';
import { badRequest, forbidden } from '../../fhir/operation-outcome';
import { ModelStatsService, type ModelStats, type PredictionItem } from './model-stats.service';
import { PredictionRepository } from './prediction.repository';
import { CursorSeal, PSEUDONYM, pseudonymousItem, type PseudonymousPredictionItem } from './pseudonymous-predictions';

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
  /** The de-identified export's pseudonyms and date shifts (same key), for data scientists' listings. */
  private readonly deid: Deidentifier;
  private readonly seal: CursorSeal;

  constructor(
    private readonly stats: ModelStatsService,
    private readonly predictions: PredictionRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const key = deidentificationKey(config);
    this.deid = createDeidentifier(key);
    this.seal = new CursorSeal(key);
  }

  /** `?window=` latest predictions to compute distributions over (default 10,000); `?since=` an ISO date-time. */
  @Get(':id/stats')
  async get(@Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: Request): Promise<ModelStats> {
    requireModelReader(req.auth);
    return this.stats.stats(modelId(id), integer(query.window, 'window', DEFAULT_WINDOW, MAX_WINDOW), since(query.since));
  }

  /**
   * Newest first: `?_count=` (default 50, at most 1000), `?patient=Patient/{id}`, `?cursor=` from the
   * previous page's `next`. Data scientists see the de-identified export's pseudonyms instead of
   * ids and no `createdAt` (the real time of a write), filter by a Patient's pseudonym, and get sealed cursors.
   */
  @Get(':id/predictions')
  async list(@Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: Request): Promise<{ model: string; count: number; items: Array<PredictionItem | PseudonymousPredictionItem>; next: string | null }> {
    requireModelReader(req.auth);
    const model = modelId(id);
    const pseudonymous = req.auth?.role === 'data-scientist';
    const count = integer(query._count, '_count', DEFAULT_COUNT, MAX_COUNT);
    const after = cursor(query.cursor, pseudonymous ? (v) => this.seal.open(v) : (v) => Buffer.from(v, 'base64url').toString('utf8'));
    const named = pseudonymous ? pseudonymOf(query.patient) : patientOf(query.patient);
    const patient = pseudonymous && named ? await this.patientOfPseudonym(model, named) : named;
    if (named && patient === undefined) {
      await this.stats.page(model, 1); // 404 for an unknown version, as without the filter
      return { model, count: 0, items: [], next: null };
    }
    const page = await this.stats.page(model, count, after, patient);
    let next: string | null = null;
    if (page.next) {
      const position = JSON.stringify([page.next.at, page.next.jobId]);
      const params = new URLSearchParams({ _count: String(count), ...(named ? { patient: `Patient/${named}` } : {}), cursor: pseudonymous ? this.seal.seal(position) : Buffer.from(position).toString('base64url') });
      next = `/api/models/${encodeURIComponent(model)}/predictions?${params}`;
    }
    const items = pseudonymous ? page.items.map((i) => pseudonymousItem(this.deid, i, page.ageInputs)) : page.items;
    return { model, count: items.length, items, next };
  }

  /** The real id of the Patient a pseudonym stands for, among those this version made predictions about. */
  private async patientOfPseudonym(model: string, pseudonym: string): Promise<string | undefined> {
    return (await this.predictions.patientIds(model)).find((p) => this.deid.pseudonym('Patient', p) === pseudonym);
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

/** A data scientist's patient filter: the pseudonym their de-identified export gives the Patient. */
function pseudonymOf(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const m = typeof value === 'string' ? /^(?:Patient\/)?([^/]*)$/.exec(value) : null;
  if (!m || !PSEUDONYM.test(m[1])) {
    throw badRequest('For data scientists, patient is the pseudonym of the Patient in their de-identified export ("Patient/" and 32 hexadecimal digits), never its id', ['patient']);
  }
  return m[1];
}

function cursor(value: unknown, decode: (v: string) => string | undefined): { at: string; jobId: string } | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(decode(String(value)) ?? '') as unknown;
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string' && AT.test(parsed[0])) {
      return { at: parsed[0], jobId: parsed[1] };
    }
  } catch {
    // falls through to the error below
  }
  throw badRequest('cursor is not one this server gave (use the "next" link of the previous page)', ['cursor']);
}
