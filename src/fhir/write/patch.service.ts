import { Injectable } from '@nestjs/common';
import type { Binary, Parameters, Resource } from '@medplum/fhirtypes';
import { applyPatch, type Operation } from 'fast-json-patch';
import type { Tx } from '../../database/database.service';
import { OperationOutcomeError, badRequest, gone, notFound } from '../operation-outcome';
import { applyFhirPathPatch } from './fhirpath-patch';
import { parseFhirJson } from '../json/fhir-json';
import { cloneFhirJson } from '../json/lexemes';
import { ResourceWriteService, prepare, type UpdateOptions, type WriteOutcome } from './resource-write.service';

/**
 * PATCH: JSON Patch (RFC 6902; as an array, or inside a bundle as a Binary of
 * application/json-patch+json) and FHIRPath Patch (a Parameters resource). The patched resource
 * is validated and written through the one write path, as an update of the version it was made from.
 */
@Injectable()
export class PatchService {
  constructor(private readonly writer: ResourceWriteService) {}

  async patchInTx(tx: Tx, resourceType: string, id: string, patch: unknown, options: UpdateOptions): Promise<WriteOutcome> {
    const current = await this.writer.currentOf(tx, resourceType, id);
    if (!current) throw notFound(`${resourceType}/${id} is not known`);
    if (current.deleted || !current.json) throw gone(`${resourceType}/${id} was deleted`);
    const before = parseFhirJson(current.json) as Resource;
    const after = applyAnyPatch(before, patch);
    if (after.resourceType !== resourceType) throw OperationOutcomeError.of(422, 'processing', 'A patch may not change resourceType');
    if (after.id !== id) throw OperationOutcomeError.of(422, 'processing', 'A patch may not change the id');
    const resource = prepare(after, resourceType, id);
    return this.writer.updateInTx(tx, resource, { ...options, method: 'PATCH' });
  }
}

/** Applies a JSON Patch document or a FHIRPath Patch Parameters to a resource. Pure. */
export function applyAnyPatch(resource: Resource, patch: unknown): Resource {
  if (Array.isArray(patch)) return applyJsonPatch(resource, patch);
  const p = patch as Resource | undefined;
  if (p?.resourceType === 'Parameters') return applyFhirPathPatch(resource, p as Parameters);
  if (p?.resourceType === 'Binary') {
    const binary = p as Binary;
    if (!binary.contentType?.startsWith('application/json-patch+json') || !binary.data) {
      throw badRequest('A PATCH Binary must have contentType application/json-patch+json and data');
    }
    let ops: unknown;
    try {
      ops = JSON.parse(Buffer.from(binary.data, 'base64').toString('utf8'));
    } catch {
      throw badRequest('The PATCH Binary does not hold JSON');
    }
    if (!Array.isArray(ops)) throw badRequest('A JSON Patch document must be an array of operations');
    return applyJsonPatch(resource, ops);
  }
  throw badRequest('A patch must be a JSON Patch array (application/json-patch+json) or a FHIRPath Patch Parameters resource');
}

function applyJsonPatch(resource: Resource, ops: unknown[]): Resource {
  const copy = cloneFhirJson(resource); // keeps decimal lexemes, unlike a JSON round trip
  try {
    return applyPatch(copy, ops as Operation[], true, true, true).newDocument;
  } catch (e) {
    const err = e as { name?: string; message?: string; index?: number };
    const which = err.index !== undefined ? ` (operation ${err.index})` : '';
    if (err.name === 'TEST_OPERATION_FAILED') throw OperationOutcomeError.of(422, 'processing', `JSON Patch test failed${which}`);
    const detail = (err.message ?? 'invalid patch').split('\n')[0];
    throw OperationOutcomeError.of(err.name === 'OPERATION_PATH_UNRESOLVABLE' ? 422 : 400, 'invalid', `Invalid JSON Patch${which}: ${detail}`);
  }
}
