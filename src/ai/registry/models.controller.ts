import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { badRequest, notFound } from '../../fhir/operation-outcome';
import { KNOWN_TASKS } from '../task-contracts';
import { RULE_TASKS, isRuleTask } from '../rules/rule-catalog';
import type { AiTask } from '../model-manifest';
import { requireModelManager, requireModelReader } from './model-access';
import { ModelCatalog } from './model-catalog.repository';
import { readModelForm } from './model-form';
import { ModelLifecycleService, type TransitionResult } from './model-lifecycle.service';
import { ModelUploadService } from './model-upload.service';
import { RuleRegistrationService } from './rule-registration.service';
import { isRuleManifest } from '../rules/rule-manifest.checks';
import { MODEL_STATUSES, modelView, type ModelStatus } from './model-view';

/** The model registry for data scientists: register (checked), list, read, download, and move through the lifecycle. */
@Controller('api/models')
export class ModelsController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly catalog: ModelCatalog,
    private readonly uploads: ModelUploadService,
    private readonly lifecycle: ModelLifecycleService,
    private readonly rules: RuleRegistrationService,
  ) {}

  @Post()
  @HttpCode(201)
  async register(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<Record<string, unknown>> {
    const actor = requireModelManager(req.auth, 'register model versions');
    // A rule version (kind "rule", no file): as a JSON body, or as the form's only field "manifest".
    const json = req.is('application/json') ? (req.body as unknown) : undefined;
    const form = isRuleManifest(json) ? { manifest: JSON.stringify(json) } : await readModelForm(req, res, this.config.modelMaxBytes);
    const rule = ruleManifestOf(form.manifest);
    const row = rule ? await this.rules.register(rule, !!form.file, actor) : await this.uploads.register(form, actor);
    res.setHeader('Location', `/api/models/${row.id}`);
    return modelView(row, await this.catalog.history(row.id));
  }

  @Get()
  async list(@Req() req: Request, @Query() query: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    requireModelReader(req.auth);
    const one = (name: string): string | undefined => {
      const v = query[name];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !v) throw badRequest(`${name} must be given once, as a value`, [name]);
      return v;
    };
    const task = one('task');
    const status = one('status');
    if (task && !KNOWN_TASKS.includes(task as AiTask) && !isRuleTask(task)) throw badRequest(`task must be one of ${[...KNOWN_TASKS, ...RULE_TASKS].join(', ')}`, ['task']);
    if (status && !MODEL_STATUSES.includes(status as ModelStatus)) throw badRequest(`status must be one of ${MODEL_STATUSES.join(', ')}`, ['status']);
    const kind = one('kind');
    if (kind && kind !== 'onnx' && kind !== 'rule') throw badRequest('kind must be onnx or rule', ['kind']);
    const unknown = Object.keys(query).filter((k) => !['task', 'status', 'name', 'kind'].includes(k));
    if (unknown.length) throw badRequest(`Unknown parameter(s) ${unknown.join(', ')}: filter by task, status, name or kind`, unknown);
    return (await this.catalog.list({ task, status, name: one('name'), kind })).map((row) => modelView(row));
  }

  @Get(':id')
  async get(@Req() req: Request, @Param('id') id: string): Promise<Record<string, unknown>> {
    requireModelReader(req.auth);
    const row = await this.catalog.get(id);
    if (!row) throw notFound(`No model version ${id}`);
    return modelView(row, await this.catalog.history(id));
  }

  @Get(':id/model.onnx')
  async file(@Req() req: Request, @Param('id') id: string, @Res() res: Response): Promise<void> {
    requireModelManager(req.auth, 'download model files');
    const file = await this.catalog.file(id);
    if (!file) throw notFound(`No model version ${id}`);
    res
      .status(200)
      .type('application/octet-stream')
      .setHeader('ETag', `"${file.sha256}"`)
      .setHeader('X-Model-Sha256', file.sha256)
      .setHeader('Content-Disposition', `attachment; filename="${id}.onnx"`)
      .send(file.bytes);
  }

  @Post(':id/shadow')
  @HttpCode(200)
  shadow(@Req() req: Request, @Param('id') id: string, @Body() body: unknown): Promise<Record<string, unknown>> {
    const actor = requireModelManager(req.auth, 'put model versions into shadow');
    return this.answer(this.lifecycle.shadow(id, actor, reasonOf(body)));
  }

  @Post(':id/promote')
  @HttpCode(200)
  promote(@Req() req: Request, @Param('id') id: string, @Body() body: unknown): Promise<Record<string, unknown>> {
    const actor = requireModelManager(req.auth, 'promote model versions');
    return this.answer(this.lifecycle.promote(id, actor, reasonOf(body)), 'retired');
  }

  @Post(':id/rollback')
  @HttpCode(200)
  rollback(@Req() req: Request, @Param('id') id: string, @Body() body: unknown): Promise<Record<string, unknown>> {
    const actor = requireModelManager(req.auth, 'roll back model versions');
    return this.answer(this.lifecycle.rollback(id, actor, reasonOf(body)), 'reactivated');
  }

  @Post(':id/retire')
  @HttpCode(200)
  retire(@Req() req: Request, @Param('id') id: string, @Body() body: unknown): Promise<Record<string, unknown>> {
    const actor = requireModelManager(req.auth, 'retire model versions');
    return this.answer(this.lifecycle.retire(id, actor, reasonOf(body)));
  }

  private async answer(result: Promise<TransitionResult>, otherAs?: string): Promise<Record<string, unknown>> {
    const { model, other } = await result;
    return { ...modelView(model, await this.catalog.history(model.id)), ...(otherAs ? { [otherAs]: other ?? null } : {}) };
  }
}

/** The manifest, parsed, when it declares a rule version (anything else is an ONNX upload, checked as such). */
function ruleManifestOf(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return isRuleManifest(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The optional `{"reason": "..."}` of a lifecycle request, recorded with the transition. */
function reasonOf(body: unknown): string | undefined {
  if (body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) return undefined;
  const reason = (body as { reason?: unknown }).reason;
  if (typeof body !== 'object' || Array.isArray(body) || typeof reason !== 'string' || reason.length > 2000) {
    throw badRequest('The body, if any, must be {"reason": "<text of at most 2000 characters>"}', ['reason']);
  }
  return reason;
}
