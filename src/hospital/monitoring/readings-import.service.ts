import { Injectable } from '@nestjs/common';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { TxContext } from '../../database/database.service';
import { OperationOutcomeError, outcome } from '../../fhir/operation-outcome';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import { assertJsonDepth } from '../../http/json-depth';
import { parseFhirBody } from '../../fhir/json/fhir-body';
import type { NdjsonLine } from './ndjson-lines';

const REASONS: Record<number, string> = { 201: 'Created', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 412: 'Precondition Failed', 422: 'Unprocessable Entity' };

/**
 * The resource on one NDJSON line, or the 400 that explains why it is not an Observation. Read as
 * any FHIR JSON body is (parseFhirBody: decimal lexemes kept, lone surrogates and integers written
 * as decimals refused); bytes that are not UTF-8 are refused. Pure.
 */
export function parseReadingLine(l: NdjsonLine): Resource {
  if (l.problem) throw OperationOutcomeError.of(400, 'structure', `line ${l.line}: ${l.problem}`);
  try {
    assertJsonDepth(l.text);
  } catch (e) {
    if (e instanceof OperationOutcomeError) throw OperationOutcomeError.of(e.status, 'too-costly', `line ${l.line}: ${e.message}`);
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = parseFhirBody(l.text);
  } catch (e) {
    if (e instanceof OperationOutcomeError) throw e; // its diagnostics get the line number in the answer
    throw OperationOutcomeError.of(400, 'structure', `line ${l.line}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw OperationOutcomeError.of(400, 'structure', `line ${l.line}: not a JSON object`);
  const type = (parsed as { resourceType?: unknown }).resourceType;
  if (type !== 'Observation') throw OperationOutcomeError.of(400, 'invalid', `line ${l.line}: each line must be an Observation, not ${typeof type === 'string' ? type : 'a resource without resourceType'}`, ['Observation.resourceType']);
  return parsed as Resource;
}

/** A line's failure as a batch-response entry: its status and an OperationOutcome naming the line. */
function failed(l: NdjsonLine, e: OperationOutcomeError): BundleEntry {
  const issues = (e.outcome.issue ?? []).map((i) => ({ ...i, diagnostics: i.diagnostics?.startsWith(`line ${l.line}:`) ? i.diagnostics : `line ${l.line}: ${i.diagnostics ?? i.details?.text ?? 'refused'}` }));
  return { response: { status: `${e.status} ${REASONS[e.status] ?? ''}`.trim(), outcome: outcome(issues) as OperationOutcome } };
}

/**
 * Stores a stream of readings (NDJSON, one Observation a line), each through the one write path in
 * its own transaction, so that a bad line is refused alone and a good one is kept (and triggers the
 * AI as any write does). Lines are read as they arrive and written one after the other, in order.
 * The answer is a batch-response Bundle: one entry per non-blank line, in order, with the created
 * location or the line's OperationOutcome. Errors that are not a line's fault (the database gone)
 * end the request.
 */
@Injectable()
export class ReadingsImportService {
  constructor(private readonly writer: ResourceWriteService) {}

  async import(ctx: TxContext, lines: AsyncIterable<NdjsonLine>): Promise<{ bundle: Bundle; created: number; failed: number }> {
    const entry: BundleEntry[] = [];
    let created = 0;
    for await (const l of lines) {
      try {
        const result = await this.writer.create(ctx, parseReadingLine(l), 'Observation');
        created++;
        entry.push({
          response: {
            status: '201 Created',
            location: `Observation/${result.resource.id}/_history/${result.versionId}`,
            etag: `W/"${result.versionId}"`,
            lastModified: result.lastUpdated.toISOString(),
          },
        });
      } catch (e) {
        if (!(e instanceof OperationOutcomeError) || e.status >= 500) throw e;
        entry.push(failed(l, e));
      }
    }
    return { bundle: { resourceType: 'Bundle', type: 'batch-response', entry }, created, failed: entry.length - created };
  }
}
