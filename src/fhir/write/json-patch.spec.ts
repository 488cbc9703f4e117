import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../operation-outcome';
import { applyAnyPatch } from './patch.service';

/** The JSON Patch cases of FHIR/fhir-test-cases (RFC 6902's appendix and more), on plain JSON documents. */
const JSON_PATCH_TESTS = path.resolve(__dirname, '../../../../shared/fixtures/conformance/patch-tests/json-patch-tests.json');

interface JsonPatchCase {
  comment: string;
  doc: Record<string, unknown>;
  patch: unknown[];
  expected?: unknown;
  error?: string;
}

const cases: JsonPatchCase[] = existsSync(JSON_PATCH_TESTS) ? JSON.parse(readFileSync(JSON_PATCH_TESTS, 'utf8')) : [];
if (!cases.length) console.warn(`JSON Patch test cases not found at ${JSON_PATCH_TESTS}: skipping them`);
const describeWithCases = cases.length ? describe : describe.skip;

describeWithCases('JSON Patch: official test cases (json-patch-tests.json)', () => {
  it('has the 16 cases', () => {
    expect(cases).toHaveLength(16);
  });

  it.each(cases.map((c) => [c.comment, c] as const))('%s', (_name, c) => {
    const doc = c.doc as unknown as Resource;
    const before = JSON.stringify(doc);
    if (c.error !== undefined) {
      // Refused as a FHIR error (400 or 422), never a crash; the input is left as it was.
      let thrown: unknown;
      try {
        applyAnyPatch(doc, c.patch);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(OperationOutcomeError);
      expect([400, 422]).toContain((thrown as OperationOutcomeError).status);
    } else {
      expect(applyAnyPatch(doc, c.patch)).toEqual(c.expected);
    }
    expect(JSON.stringify(doc)).toBe(before);
  });
});
