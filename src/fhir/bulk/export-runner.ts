import { Inject, Injectable } from '@nestjs/common';
import type { Device, Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { LOGGER } from '../../core/core.module';
import { APP_CONFIG } from '../../core/tokens';
import { outcome } from '../operation-outcome';
import { createDeidentifier, type Deidentifier } from './deidentify';
import { deidentificationKey } from './deidentify-key';
import { exportOptions } from './export-options';
import { ExportRepository, type ExportRow, type ExportedResource, type SnapshotReader } from './export.repository';
import { NdjsonPartWriter } from './ndjson-writer';
import { parseFhirJson } from '../json/fhir-json';
import { stringifyFhirJson } from '../json/lexemes';
import { integrityProblem, StoredIntegrityError } from '../store/stored-integrity';

export type ExportRunResult = { outcome: 'completed'; exported: number; files: number } | { outcome: 'skipped' | 'stopped' };

/** Thrown inside a run when its attempt was cancelled or superseded: stop quietly. */
class Stopped extends Error {}

/**
 * Runs one export (in the worker): reads the store in a snapshot, type by type and page by page,
 * de-identifies when asked, and writes NDJSON files of bounded size. A resource that cannot be
 * written becomes an OperationOutcome line in the error file, and the others still go out.
 * Running again (a retried or redelivered job) starts a new attempt that replaces the output.
 */
@Injectable()
export class ExportRunner {
  private readonly deid: Deidentifier;

  constructor(
    private readonly repo: ExportRepository,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.deid = createDeidentifier(deidentificationKey(config));
  }

  async run(id: string): Promise<ExportRunResult> {
    const e = await this.repo.startAttempt(id);
    if (!e) return { outcome: 'skipped' };
    const opts = exportOptions();
    let seq = 0;
    let exported = 0;
    let lastProgress = Date.now();
    const writer = (kind: 'output' | 'error', type: string) =>
      new NdjsonPartWriter(opts.fileBytes, async (text, count, bytes) => {
        seq++;
        if (!(await this.repo.writeFile(e, { seq, kind, resourceType: type, count, bytes }, text))) throw new Stopped();
      });
    const errors = writer('error', 'OperationOutcome');
    try {
      await this.repo.snapshot(async (reader) => {
        const registryDevices = e.deidentified && e.params.types.includes('Device') ? await reader.registryDeviceIds() : new Set<string>();
        for (const type of e.params.types) {
          const out = writer('output', type);
          for await (const r of this.resources(reader, e, type, opts.pageSize)) {
            const line = this.line(e, type, r, type === 'Device' && registryDevices.has(r.id));
            if (line.ok) await out.add(line.text);
            else await errors.add(line.text);
            if (Date.now() - lastProgress > 1000) {
              lastProgress = Date.now();
              if (!(await this.repo.progress(e, exported + out.count, type))) throw new Stopped();
            }
          }
          await out.end();
          exported += out.count;
          if (out.count && !(await this.repo.progress(e, exported, type))) throw new Stopped();
        }
        await errors.end();
      });
    } catch (err) {
      if (err instanceof Stopped) return { outcome: 'stopped' };
      throw err;
    }
    if (!(await this.repo.complete(e, exported, opts.retentionMs))) return { outcome: 'stopped' };
    this.logger.info({ exportId: e.id, exported, files: seq, errors: errors.count, deidentified: e.deidentified }, 'bulk export completed');
    return { outcome: 'completed', exported, files: seq };
  }

  private async *resources(reader: SnapshotReader, e: ExportRow, type: string, pageSize: number): AsyncGenerator<ExportedResource> {
    let after = '';
    for (;;) {
      const page = await reader.page(type, after, pageSize, { shared: e.level === 'system', patients: e.params.patients, since: e.params.since });
      yield* page;
      if (page.length < pageSize) return;
      after = page[page.length - 1].id;
    }
  }

  /**
   * One NDJSON line: the resource as stored, or de-identified (a model registry's Device keeping
   * its registry fields, `registryDevice`); or an OperationOutcome saying why not.
   */
  private line(e: ExportRow, type: string, r: ExportedResource, registryDevice = false): { ok: boolean; text: string } {
    try {
      // Nothing goes out that a read would refuse: content that is not its row's own (stored-integrity.ts).
      const problem = integrityProblem({ resourceType: type, id: r.id, patientId: r.patientId, json: r.json, sealed: r.sealed }, true);
      if (problem) throw new StoredIntegrityError({ resourceType: type, id: r.id, patientId: r.patientId }, problem);
      if (!e.deidentified) return { ok: true, text: r.json.includes('\n') ? stringifyFhirJson(parseFhirJson(r.json)) : r.json };
      const parsed = parseFhirJson(r.json) as Resource;
      return { ok: true, text: stringifyFhirJson(registryDevice ? this.deid.registryDevice(parsed as Device) : this.deid.resource(parsed, r.patientId)) };
    } catch (err) {
      const id = e.deidentified ? this.deid.pseudonym(type, r.id) : r.id;
      if (err instanceof StoredIntegrityError) this.logger.error({ exportId: e.id, err: err.message }, 'bulk export: stored record failed its integrity check, not exported');
      else this.logger.warn({ exportId: e.id, resource: `${type}/${id}`, err: (err as Error).message }, 'bulk export: resource not exported');
      const o = outcome([{ severity: 'error', code: 'exception', diagnostics: `${type}/${id} could not be exported`, expression: [type] }]);
      return { ok: false, text: JSON.stringify(o) };
    }
  }
}
