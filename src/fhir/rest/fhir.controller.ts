import { All, Body, Controller, Delete, Get, Inject, Param, Patch, Post, Put, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Binary, BundleEntry, OperationOutcomeIssue, Parameters, Resource } from '@medplum/fhirtypes';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { Public } from '../../auth/public.decorator';
import { AccessPolicy } from '../../auth/access/access-policy';
import type { TxContext } from '../../database/database.service';
import { validateFhirResource } from '../definitions/resource-validator';
import { fhirResourceTypes, isResourceType } from '../definitions/fhir-definitions';
import { OperationOutcomeError, badRequest, forbidden, informational, notFound, outcome } from '../operation-outcome';
import { dateRange, type DateRange } from '../search/search-values';
import { ResourceReadService, historyParams, type VisibilityCheck } from '../read/resource-read.service';
import { EverythingService } from '../read/everything.service';
import { EhrChainService } from '../ehr/ehr-chain.service';
import { ResourceWriteService, type WriteOutcome } from '../write/resource-write.service';
import { BundleService } from '../bundle/bundle.service';
import type { ParsedEntry } from '../bundle/bundle-request';
import { CapabilityStatementService } from './capability-statement.service';
import { SearchService } from '../search/search.service';
import { shapeForRead } from '../search/result-shape';
import { TRIAGE_REQUEST_CODE } from '../../ai/plugins/triage.plugin';
import { ModelDeviceDirectory } from '../../ai/model-device-directory';
import type { AuthContext } from '../../auth/auth.types';
import { historyBundle } from './history-bundle';
import { methodNotAllowed } from '../../http/allowed-methods';
import { binaryFromBody, isNativeBinaryBody, sendNativeBinary, wantsNativeBinary } from './binary-http';
import {
  fhirBase,
  header,
  negotiate,
  preferredReturn,
  requireJsonBody,
  requirePatchBody,
  requireFhirId,
  requireResourceType,
  sendJson,
  setVersionHeaders,
  notModified,
} from './fhir-http';
import { stringifyFhirJson } from '../json/lexemes';

/** FHIR R4 RESTful API: instance and type interactions, history, $validate and the CapabilityStatement. */
@Controller('fhir')
export class FhirController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly reader: ResourceReadService,
    private readonly writer: ResourceWriteService,
    private readonly capabilities: CapabilityStatementService,
    private readonly bundles: BundleService,
    private readonly everything: EverythingService,
    private readonly access: AccessPolicy,
    private readonly ehrChain: EhrChainService,
    private readonly searches: SearchService,
    private readonly modelDevices: ModelDeviceDirectory,
  ) {}

  @Public()
  @Get('metadata')
  metadata(@Req() req: Request, @Res() res: Response): void {
    negotiate(req);
    sendJson(res, 200, this.capabilities.json(fhirBase(req, this.config)));
  }

  /**
   * The fixed paths below answer only GET: any other method there is 405 naming the ones allowed,
   * rather than a 404 or the interaction a parameterised route would take it for (DELETE [type]).
   */
  @Public()
  @All('metadata')
  metadataOtherMethods(@Req() req: Request): never {
    throw methodNotAllowed(req);
  }

  /** Search at system level: GET [base]?_type=...&... */
  @Get()
  async systemSearch(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.runSearch(req, res, undefined, queryParams(req));
  }

  @Post('_search')
  async systemSearchPost(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.runSearch(req, res, undefined, [...queryParams(req), ...formParams(req)]);
  }

  /** Batch and transaction Bundles. */
  @Post()
  async bundle(@Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireJsonBody(req);
    const base = fhirBase(req, this.config);
    const result = await this.bundles.process(txContext(req, base), body, base, preferredReturn(req), req.auth);
    sendJson(res, 200, stringifyFhirJson(result));
  }

  /** Verifies every patient's EHR record chain. */
  @Get('$verify-ehr-chain')
  async verifyAllChains(@Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    this.access.require(req.auth, '*', 'r');
    if (this.access.compartment(req.auth) !== undefined) throw forbidden('Verifying every chain needs a system or user token');
    sendJson(res, 200, stringifyFhirJson(await this.ehrChain.verifyAll()));
  }

  @Get('_history')
  async systemHistory(@Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    this.access.require(req.auth, '*', 's');
    const params = historyParams(req.query);
    const result = await this.reader.history({
      ...params,
      patientId: this.access.compartment(req.auth) ?? undefined,
      excludeTypes: this.access.hiddenTypes(req.auth),
    });
    sendJson(res, 200, stringifyFhirJson(historyBundle(fhirBase(req, this.config), req, result, params)));
  }

  @All('_history')
  systemHistoryOtherMethods(@Req() req: Request): never {
    throw methodNotAllowed(req);
  }

  @Get(':type/_history')
  async typeHistory(@Param('type') type: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    this.access.require(req.auth, type, 's');
    const params = historyParams(req.query);
    const result = await this.reader.history({ ...params, resourceType: type, patientId: this.access.compartment(req.auth) ?? undefined });
    sendJson(res, 200, stringifyFhirJson(historyBundle(fhirBase(req, this.config), req, result, params)));
  }

  @All(':type/_history')
  typeHistoryOtherMethods(@Param('type') type: string, @Req() req: Request): never {
    requireResourceType(type);
    throw methodNotAllowed(req);
  }

  /** Search at type level: GET [type]?... */
  @Get(':type')
  async typeSearch(@Param('type') type: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.runSearch(req, res, type, queryParams(req));
  }

  @Post(':type/_search')
  async typeSearchPost(@Param('type') type: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.runSearch(req, res, type, [...queryParams(req), ...formParams(req)]);
  }

  private async runSearch(req: Request, res: Response, type: string | undefined, params: Array<[string, string]>, patientCompartment?: string): Promise<void> {
    negotiate(req);
    if (type !== undefined) requireResourceType(type);
    // A data scientist searches the model registry's Devices only: confined to their ids.
    if (type === 'Device' && patientCompartment === undefined && this.access.registryDevicesOnly(req.auth)) {
      params = [...params, ['_id', (await this.modelDevices.ids()).join(',') || 'none']];
      this.access.require(registryDeviceReader(req.auth), 'Device', 's');
    } else this.requireSearchScopes(req, type, params);
    const prefer = header(req, 'prefer') ?? '';
    const compartment = this.access.compartment(req.auth);
    const json = await this.searches.searchJson({
      resourceType: type,
      params,
      strict: /handling\s*=\s*strict/i.test(prefer),
      compartment: compartment ?? undefined,
      patientCompartment,
      canRead: (t) => this.access.allows(req.auth, t, 's') || this.access.allows(req.auth, t, 'r'),
      hiddenTypes: this.access.hiddenTypes(req.auth),
      // Only a confined token (a patient's, or one bound to no patient) sees fewer rows than its scopes allow.
      visible: compartment !== undefined ? (v) => this.access.isVisible(req.auth, v) : undefined,
      base: fhirBase(req, this.config),
    });
    sendJson(res, 200, json);
  }

  @Get(':type/:id')
  async read(@Param('type') type: string, @Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const native = type === 'Binary' && wantsNativeBinary(req);
    if (native) req.fhirFormat = 'json'; // errors as FHIR JSON; the content itself in its own type
    else negotiate(req);
    requireResourceType(type);
    requireFhirId(type, id, 'read');
    await this.requireRead(req.auth, type, id);
    const found = await this.reader.read(type, id, this.visibleAudited(req));
    setVersionHeaders(res, found);
    if (notModified(req, found)) {
      res.status(304).end();
      return;
    }
    if (native) sendNativeBinary(res, JSON.parse(found.json) as Binary);
    else sendJson(res, 200, subsetOf(req, found.json));
  }

  @Get(':type/:id/_history')
  async instanceHistory(@Param('type') type: string, @Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    requireFhirId(type, id, 'read');
    this.access.require(req.auth, type, 'r');
    const params = historyParams(req.query);
    const found = await this.reader.history({ ...params, resourceType: type, id }, this.visibleAudited(req), this.access.compartment(req.auth) !== undefined);
    // Each version on its own: an earlier version of a shared resource may have named another patient.
    const result = { ...found, versions: found.versions.filter((v) => this.access.isVisible(req.auth, v)) };
    sendJson(res, 200, stringifyFhirJson(historyBundle(fhirBase(req, this.config), req, result, params)));
  }

  @All(':type/:id/_history')
  instanceHistoryOtherMethods(@Param('type') type: string, @Req() req: Request): never {
    requireResourceType(type);
    throw methodNotAllowed(req);
  }

  @Get(':type/:id/_history/:vid')
  async vread(@Param('type') type: string, @Param('id') id: string, @Param('vid') vid: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const native = type === 'Binary' && wantsNativeBinary(req);
    if (native) req.fhirFormat = 'json';
    else negotiate(req);
    requireResourceType(type);
    requireFhirId(type, id, 'read');
    this.access.require(req.auth, type, 'r');
    const found = await this.reader.vread(type, id, vid, this.visibleAudited(req));
    setVersionHeaders(res, found);
    if (native) sendNativeBinary(res, JSON.parse(found.json) as Binary);
    else sendJson(res, 200, subsetOf(req, found.json));
  }

  /** Versions are immutable: no PUT, PATCH or DELETE of one (http.html#vread). */
  @All(':type/:id/_history/:vid')
  versionOtherMethods(@Param('type') type: string, @Req() req: Request): never {
    requireResourceType(type);
    throw methodNotAllowed(req);
  }

  /** Patient/{id}/$everything (GET operations at instance level). */
  @Get(':type/:id/:operation')
  async instanceGetOperation(@Param('type') type: string, @Param('id') id: string, @Param('operation') operation: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    requireFhirId(type, id, 'read');
    if (type === 'Patient' && (operation === '*' || isResourceType(operation))) {
      await this.compartmentSearch(req, res, id, operation);
      return;
    }
    if (type !== 'Patient' || !['$everything', '$verify-ehr-chain', '$ehr-chain-checkpoint'].includes(operation)) throw unknownOperation(req);
    this.access.require(req.auth, 'Patient', 'r');
    const compartment = this.access.compartment(req.auth);
    if (compartment !== undefined && compartment !== id) throw notFound(`Patient/${id} is not known`);
    if (operation !== '$everything') {
      await this.reader.read('Patient', id);
      const checkpoint = typeof req.query.checkpoint === 'string' ? req.query.checkpoint : undefined;
      const result = operation === '$verify-ehr-chain' ? await this.ehrChain.verifyPatient(id, checkpoint) : await this.ehrChain.checkpoint(id);
      sendJson(res, 200, stringifyFhirJson(result));
      return;
    }
    const { count, offset, since } = historyParams(req.query);
    const careDates = careDateRange(req.query);
    const typeParam = req.query._type;
    const asked = typeParam === undefined ? [...fhirResourceTypes()] : String(typeParam).split(',').map((t) => t.trim()).filter(Boolean);
    // Only the types the token may read; with no _type and full read scopes, no filter at all.
    const readable = this.access.readableOf(req.auth, asked);
    const types = typeParam === undefined && readable.length === asked.length ? undefined : readable;
    const base = fhirBase(req, this.config);
    const self = new URL(`${base}${req.path.replace(/^\/fhir/, '')}`);
    for (const [k, v] of Object.entries(req.query)) if (k !== '_offset') self.searchParams.set(k, String(v));
    sendJson(res, 200, await this.everything.everythingJson({ patientId: id, count, offset, since, types, careDates }, base, self));
  }

  /**
   * Compartment search (search.html, "Searching a compartment"): `Patient/{id}/{type}?...` is the type's
   * search confined to that Patient's compartment (the resources whose compartment parameters, from
   * the R4 CompartmentDefinition, refer to it); `Patient/{id}/*` searches every type of the compartment.
   */
  private async compartmentSearch(req: Request, res: Response, patientId: string, type: string): Promise<void> {
    const searched = type === '*' ? undefined : type;
    const params = queryParams(req);
    // The search scopes first (runSearch checks them again), so that nothing is told about the Patient before them.
    this.requireSearchScopes(req, searched, params);
    const compartment = this.access.compartment(req.auth);
    if (compartment !== undefined && compartment !== patientId) throw notFound(`Patient/${patientId} is not known`);
    // 404 / 410 as for a read, to a token that may read Patients; to others, an unknown Patient's compartment is just empty.
    if (this.access.allows(req.auth, 'Patient', 'r')) await this.reader.read('Patient', patientId, (v) => this.access.requireVisible(req.auth, v));
    await this.runSearch(req, res, searched, params, patientId);
  }

  /**
   * The visibility check of a read, vread or instance history, which first notes the Patient that
   * owns the record for its AuditEvent (so an attempt on another patient's record is found by that
   * patient too).
   */
  private visibleAudited(req: Request): VisibilityCheck {
    return (v) => {
      const owner = v.filedPatientId !== undefined ? v.filedPatientId : v.patientId;
      if (owner) req.auditPatient = `Patient/${owner}`;
      this.access.requireVisible(req.auth, v);
    };
  }

  /** Read permission on the type; a data scientist's (registryDevicesOnly) only on the model registry's Devices. */
  private async requireRead(auth: AuthContext | undefined, type: string, id: string): Promise<void> {
    if (type !== 'Device' || !this.access.registryDevicesOnly(auth)) return this.access.require(auth, type, 'r');
    if (!(await this.modelDevices.has(id))) {
      throw forbidden(`Data scientists read only the model registry's Devices, and Device/${id} is not one; patient data reaches them only de-identified, through Bulk Data export ($export)`);
    }
    this.access.require(registryDeviceReader(auth), 'Device', 'r');
  }

  /** Search permission on the type, or at system level on each type `_type` names, or on every type. */
  private requireSearchScopes(req: Request, type: string | undefined, params: Array<[string, string]>): void {
    const named = type !== undefined ? [type] : params.filter(([k]) => k === '_type').flatMap(([, v]) => v.split(',').map((t) => t.trim()).filter(isResourceType));
    for (const t of named.length ? named : ['*']) this.access.require(req.auth, t, 's');
  }

  @Post(':type')
  async create(@Param('type') type: string, @Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    if (type === 'Binary' && isNativeBinaryBody(req)) body = binaryFromBody(req, asBuffer(body));
    else requireJsonBody(req);
    this.access.requireWrite(req.auth, type, 'c');
    const ifNoneExist = header(req, 'if-none-exist');
    if (ifNoneExist !== undefined) {
      await this.runOne(req, res, { method: 'POST', resourceType: type, resource: body as Resource, ifNoneExist: ifNoneExist.replace(/^[^?]*\?/, '') });
      return;
    }
    const result = await this.writer.create(txContext(req, fhirBase(req, this.config)), body, type);
    this.sendWrite(req, res, result);
  }

  /** Conditional update: PUT [type]?criteria. */
  @Put(':type')
  async conditionalUpdate(@Param('type') type: string, @Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    requireJsonBody(req);
    await this.runOne(req, res, { method: 'PUT', resourceType: type, resource: body as Resource, criteria: criteriaOf(req), ifMatch: header(req, 'if-match') });
  }

  /** Conditional delete: DELETE [type]?criteria. */
  @Delete(':type')
  async conditionalDelete(@Param('type') type: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    await this.runOne(req, res, { method: 'DELETE', resourceType: type, criteria: criteriaOf(req), ifMatch: header(req, 'if-match') });
  }

  /** PATCH [type]/[id] with JSON Patch or FHIRPath Patch. */
  @Patch(':type/:id')
  async patch(@Param('type') type: string, @Param('id') id: string, @Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    requireFhirId(type, id, 'write');
    requirePatchBody(req, body);
    await this.runOne(req, res, { method: 'PATCH', resourceType: type, id, resource: body as Resource, ifMatch: header(req, 'if-match') });
  }

  /** Conditional patch: PATCH [type]?criteria. */
  @Patch(':type')
  async conditionalPatch(@Param('type') type: string, @Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    requirePatchBody(req, body);
    await this.runOne(req, res, { method: 'PATCH', resourceType: type, resource: body as Resource, criteria: criteriaOf(req), ifMatch: header(req, 'if-match') });
  }

  /** Runs one interaction as a one-entry transaction and answers as REST does. */
  private async runOne(req: Request, res: Response, e: Omit<ParsedEntry, 'index'>): Promise<void> {
    const base = fhirBase(req, this.config);
    const entry: BundleEntry = await this.bundles.runOne(txContext(req, base), e, base, 'representation', req.auth);
    const response = entry.response ?? { status: '200' };
    const status = Number.parseInt(response.status, 10);
    if (response.etag) res.setHeader('ETag', response.etag);
    if (response.lastModified) res.setHeader('Last-Modified', new Date(response.lastModified).toUTCString());
    if (status === 201 && response.location) res.setHeader('Location', `${base}/${response.location}`);
    if (e.method === 'DELETE') {
      sendJson(res, 200, stringifyFhirJson(informational(status === 204 && !response.etag ? 'No resource matched; nothing deleted' : 'Deleted')));
      return;
    }
    const prefer = preferredReturn(req);
    if (prefer === 'minimal' || !entry.resource) {
      res.status(status).end();
      return;
    }
    if (prefer === 'OperationOutcome') {
      sendJson(res, status, stringifyFhirJson(informational(`${e.resourceType}/${entry.resource.id} ${response.location ?? ''}`.trim())));
      return;
    }
    sendJson(res, status, stringifyFhirJson(this.access.redact(req.auth, entry.resource)));
  }

  @Put(':type/:id')
  async update(@Param('type') type: string, @Param('id') id: string, @Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    requireFhirId(type, id, 'write');
    if (type === 'Binary' && isNativeBinaryBody(req)) body = binaryFromBody(req, asBuffer(body), id);
    else requireJsonBody(req);
    this.access.requireWrite(req.auth, type, 'u');
    const result = await this.writer.update(txContext(req, fhirBase(req, this.config)), type, id, body, {
      ifMatch: header(req, 'if-match'),
      ifNoneMatch: header(req, 'if-none-match'),
    });
    this.sendWrite(req, res, result);
  }

  @Delete(':type/:id')
  async delete(@Param('type') type: string, @Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    requireFhirId(type, id, 'write');
    this.access.requireWrite(req.auth, type, 'd');
    const ifMatch = req.headers['if-match'];
    const result = await this.writer.delete(txContext(req), type, id, { ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined });
    if (result.versionId) res.setHeader('ETag', `W/"${result.versionId}"`);
    const message = result.versionId
      ? `Deleted ${type}/${id} (version ${result.versionId})`
      : result.existed === false
        ? `${type}/${id} does not exist: nothing was deleted`
        : `${type}/${id} was already deleted`;
    sendJson(res, 200, stringifyFhirJson(informational(message)));
  }

  /** `$validate` at type level (POST [type]/$validate); other type-level operations are not offered. */
  @Post(':type/:operation')
  async typeOperation(@Param('type') type: string, @Param('operation') operation: string, @Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    // POST [type]/[id] is no interaction (create is POST [type], update is PUT [type]/[id]).
    if (!operation.startsWith('$')) throw methodNotAllowed(req);
    if (operation !== '$validate') throw unknownOperation(req);
    requireJsonBody(req);
    sendJson(res, 200, stringifyFhirJson(validateOperation(type, body)));
  }

  @Post(':type/:id/:operation')
  async instanceOperation(@Param('type') type: string, @Param('id') id: string, @Param('operation') operation: string, @Body() body: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    negotiate(req);
    requireResourceType(type);
    requireFhirId(type, id, 'write');
    if (type === 'Patient' && operation === '$triage') {
      await this.requestTriage(req, res, id);
      return;
    }
    if (operation !== '$validate') throw unknownOperation(req);
    requireJsonBody(req);
    sendJson(res, 200, stringifyFhirJson(validateOperation(type, body)));
  }

  /**
   * Patient/{id}/$triage: asks the AI workers for a triage from the patient's latest vital signs.
   * The request is a Task written through the one write path (so it survives a Redis outage, as
   * every write's event does); 202 with the Task's location, which the worker completes with a
   * reference to the RiskAssessment.
   */
  private async requestTriage(req: Request, res: Response, patientId: string): Promise<void> {
    this.access.require(req.auth, 'Patient', 'r');
    this.access.requireWrite(req.auth, 'Task', 'c');
    await this.reader.read('Patient', patientId, (v) => this.access.requireVisible(req.auth, v));
    const task = {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      code: { coding: [TRIAGE_REQUEST_CODE] },
      for: { reference: `Patient/${patientId}` },
      authoredOn: new Date().toISOString(),
    };
    const result = await this.writer.create(txContext(req), task, 'Task');
    const location = `${fhirBase(req, this.config)}/Task/${result.resource.id}`;
    res.setHeader('Content-Location', location);
    res.setHeader('Location', location);
    sendJson(res, 202, stringifyFhirJson(informational(`Triage requested: Task/${result.resource.id} is completed with a reference to the RiskAssessment once the worker has run`)));
  }

  private sendWrite(req: Request, res: Response, result: WriteOutcome): void {
    const { resourceType, id } = result.resource;
    setVersionHeaders(res, result);
    if (result.status === 201) res.setHeader('Location', `${fhirBase(req, this.config)}/${resourceType}/${id}/_history/${result.versionId}`);
    const prefer = preferredReturn(req);
    if (prefer === 'minimal') {
      res.status(result.status).end();
      return;
    }
    if (prefer === 'OperationOutcome') {
      const verb = result.status === 201 ? 'Created' : result.unchanged ? 'No change to' : 'Updated';
      sendJson(res, result.status, stringifyFhirJson(informational(`${verb} ${resourceType}/${id} (version ${result.versionId})`)));
      return;
    }
    sendJson(res, result.status, stringifyFhirJson(this.access.redact(req.auth, result.resource)));
  }
}

/** A raw body (express.raw leaves none when the request has no content). */
function asBuffer(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}

/** A read's JSON, shaped by `_summary` / `_elements` when the query has them (looked for in the raw URL: reads are the hot path). */
function subsetOf(req: Request, json: string): string {
  return /[?&]_(summary|elements)=/.test(req.originalUrl) ? shapeForRead(json, queryParams(req)) : json;
}

/** The query string's parameters in order, repeated ones kept (express would fold them). */
function queryParams(req: Request): Array<[string, string]> {
  const q = req.originalUrl.indexOf('?');
  return q >= 0 ? [...new URLSearchParams(req.originalUrl.slice(q + 1)).entries()] : [];
}

/** The form body of POST _search (application/x-www-form-urlencoded). */
function formParams(req: Request): Array<[string, string]> {
  if (!req.is('application/x-www-form-urlencoded')) {
    if (req.headers['content-length'] && req.headers['content-length'] !== '0') {
      throw OperationOutcomeError.of(415, 'not-supported', 'POST _search takes its parameters as application/x-www-form-urlencoded');
    }
    return [];
  }
  const body = (req.body ?? {}) as Record<string, string | string[]>;
  return Object.entries(body).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, String(v)] as [string, string]]));
}

/** The query string of a conditional interaction, as given. */
function criteriaOf(req: Request): string {
  const q = req.originalUrl.indexOf('?');
  const criteria = q >= 0 ? req.originalUrl.slice(q + 1) : '';
  if (!criteria) throw badRequest(`${req.method} ${req.path} needs search criteria (a conditional interaction) or an id`);
  return criteria;
}

/** Who acts, for the audit trail of the transaction; and, for writes of client content, the FHIR base the client addressed. */
export function txContext(req: Request, base?: string): TxContext {
  return { actor: req.auth ? `client:${req.auth.clientId}` : 'anonymous', requestId: req.requestId, ...(base ? { base } : {}) };
}

function unknownOperation(req: Request): OperationOutcomeError {
  return OperationOutcomeError.of(404, 'not-supported', `No operation or interaction for ${req.method} ${req.path}`);
}

/** $validate: the body is the resource, or a Parameters with a `resource` parameter. 200 with the issues found. */
function validateOperation(type: string, body: unknown): unknown {
  let resource = body as Resource;
  if (resource?.resourceType === 'Parameters' && type !== 'Parameters') {
    const param = (resource as Parameters).parameter?.find((p) => p.name === 'resource');
    if (!param?.resource) throw badRequest('Parameters for $validate must hold a "resource" parameter');
    resource = param.resource;
  }
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateFhirResource(resource, type);
  } catch (e) {
    if (e instanceof OperationOutcomeError && e.status === 400) return e.outcome;
    throw e;
  }
  return issues.length ? outcome(issues) : informational('Validation passed: no issues');
}

/** $everything's `start` and `end` (care dates, each a FHIR date or dateTime, both inclusive at their precision). */
function careDateRange(query: Request['query']): { low: string; high: string } | undefined {
  const bound = (name: 'start' | 'end'): DateRange | undefined => {
    const v = query[name];
    if (v === undefined) return undefined;
    const range = typeof v === 'string' ? dateRange(v) : undefined;
    if (!range) throw badRequest(`${name} must be a FHIR date or dateTime given once, such as 2024-01-31, got ${JSON.stringify(v)}`);
    return range;
  };
  const start = bound('start');
  const end = bound('end');
  if (!start && !end) return undefined;
  if (start && end && start.low >= end.high) throw badRequest('start must not be after end');
  return { low: start?.low ?? '-infinity', high: end?.high ?? 'infinity' };
}

/** The context a data scientist's read or search of the registry's Devices is checked with (see AuthContext.registryDevices). */
function registryDeviceReader(auth: AuthContext | undefined): AuthContext | undefined {
  return auth && { ...auth, registryDevices: true };
}
