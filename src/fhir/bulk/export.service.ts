import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Group, GroupMember } from '@medplum/fhirtypes';
import { dateRange } from '../search/search-values';
import { AccessPolicy } from '../../auth/access/access-policy';
import type { AuthContext } from '../../auth/auth.types';
import type { TxContext } from '../../database/database.service';
import { fhirResourceTypes, patientCompartmentPaths } from '../definitions/fhir-definitions';
import { OperationOutcomeError, badRequest, forbidden, notFound, outcome } from '../operation-outcome';
import { ResourceReadService } from '../read/resource-read.service';
import { exportOptions } from './export-options';
import { parseKickoff } from './export-request';
import { ExportRepository, type ExportLevel, type ExportRow } from './export.repository';

export interface KickoffInput {
  auth: AuthContext | undefined;
  ctx: TxContext;
  level: ExportLevel;
  groupId?: string;
  method: string;
  params: Array<[string, string]>;
  prefer: string | undefined;
  /** The kick-off URL, for the manifest's `request`. */
  requestUrl: string;
}

/** What a status request answers: still running (202), or the manifest (200). */
export type ExportStatusAnswer = { done: false; progress: string } | { done: true; manifest: BulkManifest; expires: Date | null };

export interface BulkManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: true;
  output: Array<{ type: string; url: string; count: number }>;
  error: Array<{ type: string; url: string; count: number }>;
  extension: Record<string, unknown>;
}

export const DEIDENTIFIED_EXTENSION = 'urn:fhir-ai-server:deidentified';

/**
 * Bulk Data $export in the API: checks a kick-off (form, scopes, compartment, de-identification
 * rules) and records it; answers status, cancel and file requests from PostgreSQL, so that any
 * API process can. The work itself is done by a worker (ExportRunner).
 */
@Injectable()
export class ExportService {
  constructor(
    private readonly repo: ExportRepository,
    private readonly access: AccessPolicy,
    private readonly reader: ResourceReadService,
  ) {}

  async kickoff(k: KickoffInput): Promise<string> {
    const req = parseKickoff(k.level, k.method, k.params, k.prefer);
    const auth = k.auth;
    if (!auth) throw forbidden('No authenticated client');
    const compartment = this.access.compartment(auth);
    if (compartment === null) throw forbidden('The token has patient scopes but is bound to no patient');

    let patients = req.patients;
    if (compartment !== undefined) {
      // A patient-context token exports its own compartment, and nothing else.
      if (k.level !== 'patient') throw forbidden('Patient-context tokens may export only their own compartment, with Patient/$export');
      if (patients?.some((p) => p !== compartment)) throw forbidden('Patient-context tokens may export only their own compartment');
      patients = [compartment];
    }
    // Every kick-off needs export rights (system-level read beyond a patient's own compartment) before anything is read.
    const types = this.types(auth, k.level, req.types);
    if (!types.length) this.access.requireExport(auth, k.level === 'system' ? '*' : 'Patient');
    if (k.level === 'group') patients = await this.groupPatients(auth, k.groupId as string, patients);
    else if (patients && compartment === undefined) {
      for (const id of patients) await this.reader.read('Patient', id, (v) => this.access.requireVisible(auth, v)); // 404 / 410
    }

    const deidentified = this.deidentified(auth, req.deidentify);
    if (deidentified && req.since !== undefined) {
      // _since filters on the real time of each write: narrowing it finds a resource's real write day,
      // and any exported date that tracks write time (Observation.issued...) then gives the shift away.
      throw badRequest('_since cannot be used with a de-identified export: it selects by the real time each resource was written, which would reveal the per-patient date shift (and with it real dates); export without _since');
    }
    const id = randomUUID();
    await this.repo.create(k.ctx, {
      id,
      clientId: auth.clientId,
      level: k.level,
      requestUrl: k.requestUrl,
      params: { types, since: req.since, patients, groupId: k.groupId },
      deidentified,
      transactionTime: new Date(),
    });
    return id;
  }

  async status(auth: AuthContext | undefined, id: string, base: string): Promise<ExportStatusAnswer> {
    const e = await this.covered(auth, id);
    if (e.status === 'accepted') return { done: false, progress: 'accepted: waiting for a worker' };
    if (e.status === 'in-progress') return { done: false, progress: `in-progress: ${e.exported} resources exported${e.currentType ? ` (${e.currentType})` : ''}` };
    if (e.status === 'failed') throw new OperationOutcomeError(500, outcome([{ severity: 'fatal', code: 'exception', diagnostics: e.error ?? 'The export failed' }]));
    const files = await this.repo.files(e);
    const entry = (f: (typeof files)[number]) => ({ type: f.resourceType, url: `${base}/$export-file/${e.id}/${f.seq}.ndjson`, count: f.count });
    return {
      done: true,
      expires: e.expiresAt,
      manifest: {
        transactionTime: e.transactionTime.toISOString(),
        request: e.requestUrl,
        requiresAccessToken: true,
        output: files.filter((f) => f.kind === 'output').map(entry),
        error: files.filter((f) => f.kind === 'error').map(entry),
        extension: { [DEIDENTIFIED_EXTENSION]: e.deidentified },
      },
    };
  }

  async cancel(auth: AuthContext | undefined, ctx: TxContext, id: string): Promise<void> {
    const e = await this.covered(auth, id);
    if (!(await this.repo.cancel(ctx, e.id, exportOptions().retentionMs))) throw notFound(`No export ${id}`);
  }

  /**
   * One output or error file's NDJSON, for the client that started the export, presenting a token
   * that may read the file's type (an error file: every type the export covers).
   */
  async file(auth: AuthContext | undefined, id: string, file: string): Promise<string> {
    const e = await this.own(auth, id);
    const m = /^(\d{1,9})\.ndjson$/.exec(file);
    const found = e.status === 'completed' && m ? await this.repo.fileContent(e, Number(m[1])) : undefined;
    if (found === undefined) throw notFound(`No file ${file} in export ${id}`);
    if (found.kind === 'output') this.requireScopes(auth, e, [found.resourceType]);
    else this.requireScopes(auth, e, e.params.types);
    return found.text;
  }

  /** The export as `own` finds it, when the presenting token also holds the scopes the export needed. */
  private async covered(auth: AuthContext | undefined, id: string): Promise<ExportRow> {
    const e = await this.own(auth, id);
    this.requireScopes(auth, e, e.params.types);
    return e;
  }

  /**
   * A client's tokens may be down-scoped: each access to an export is checked against the token
   * presented now (read on the types), not the one that started it, and a confined token only
   * reaches an export of its own compartment.
   */
  private requireScopes(auth: AuthContext | undefined, e: ExportRow, types: string[]): void {
    // A de-identified export's files are what a data scientist's read scopes grant (as at its kick-off).
    const reader = auth && e.deidentified ? { ...auth, deidentifiedExport: true } : auth;
    for (const t of types) this.access.requireExport(reader, t);
    const compartment = this.access.compartment(auth);
    if (compartment !== undefined && (e.level !== 'patient' || e.params.patients?.length !== 1 || e.params.patients[0] !== compartment)) {
      throw notFound(`No export ${e.id}`);
    }
  }

  /** The export, if it exists, has not expired or been cancelled, and was started by this client (else 404). */
  private async own(auth: AuthContext | undefined, id: string): Promise<ExportRow> {
    const e = await this.repo.find(id);
    if (!e || !auth || e.clientId !== auth.clientId || e.status === 'cancelled') throw notFound(`No export ${id}`);
    return e;
  }

  /** The Group's current members that are Patients (inactive ones and those outside their period left out), within `named` when given. */
  private async groupPatients(auth: AuthContext, groupId: string, named: string[] | undefined): Promise<string[]> {
    this.access.requireExport(auth, 'Group');
    const found = await this.reader.read('Group', groupId, (v) => this.access.requireVisible(auth, v));
    const group = JSON.parse(found.json) as Group;
    const members = new Set<string>();
    const now = Date.now();
    for (const m of group.member ?? []) {
      const id = isCurrentMember(m, now) ? /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(m.entity?.reference ?? '')?.[1] : undefined;
      if (id) members.add(id);
    }
    return [...members].filter((p) => !named || named.includes(p)).sort();
  }

  /**
   * The types to export: those named in _type, each of which the token must be allowed to export
   * (read, at system level beyond a patient's own compartment: 403 otherwise); or every type it
   * may export (at Patient and Group level, those that can be in a patient's compartment).
   * AuditEvents go only when named.
   */
  private types(auth: AuthContext, level: ExportLevel, named: string[] | undefined): string[] {
    if (named) {
      for (const t of named) this.access.requireExport(auth, t);
      return [...named].sort();
    }
    const hidden = new Set(this.access.hiddenTypes(auth));
    return [...fhirResourceTypes()]
      .filter((t) => !hidden.has(t))
      .filter((t) => level === 'system' || t === 'Patient' || patientCompartmentPaths(t).length > 0)
      .filter((t) => this.access.allowsExport(auth, t))
      .sort();
  }

  /**
   * Data scientists always get de-identified data (asking for identified data is refused); other
   * roles get the data as stored unless they ask for `deidentify=true`.
   */
  private deidentified(auth: AuthContext, asked: boolean | undefined): boolean {
    if (auth.role === 'data-scientist') {
      if (asked === false) throw forbidden('Data scientists receive de-identified exports only');
      return true;
    }
    return asked ?? false;
  }
}

/** Whether a Group member is one now: not inactive, and within its period (an end at a date's precision includes that whole day, month or year). Pure. */
export function isCurrentMember(member: GroupMember, now: number): boolean {
  if (member.inactive) return false;
  const start = member.period?.start ? dateRange(member.period.start)?.low : undefined;
  const end = member.period?.end ? dateRange(member.period.end)?.high : undefined;
  return (start === undefined || Date.parse(start) <= now) && (end === undefined || now < Date.parse(end));
}
