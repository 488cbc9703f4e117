import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Observation, Parameters, ParametersParameter, Patient, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../operation-outcome';
import { xmlToResource } from '../rest/fhir-xml';
import { applyFhirPathPatch } from './fhirpath-patch';

const FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures/conformance/patch-tests');
const FHIR_PATCH_TESTS = path.join(FIXTURES, 'fhir-patch-tests.xml');

interface PatchCase {
  name: string;
  input: string;
  diff: string;
  output?: string;
  error?: string;
}

/** The cases of fhir-patch-tests.xml; each holds FHIR XML resources, read with the server's own converter. */
function readCases(file: string): PatchCase[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/<case name="([^"]*)"[^>]*>([\s\S]*?)<\/case>/g)].map(([, name, body]) => {
    const section = (tag: string) => body.match(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`))?.[1];
    return {
      name,
      input: section('input') as string,
      diff: section('diff') as string,
      output: section('output'),
      error: body.match(/<error msg="([^"]*)"/)?.[1].replace(/&apos;/g, "'"),
    };
  });
}

/**
 * Narrative XHTML is compared as XHTML: `&quot;` and `"` are the same text. ("Full Resource"
 * replaces the div with a string in which the quotes are plain, while the expected XML spells them
 * as references.)
 */
function normaliseNarratives(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, v) =>
    key === 'div' && typeof v === 'string' ? v.replace(/&quot;/g, '"').replace(/&apos;/g, "'") : v,
  );
}

function expectOutcome(fn: () => unknown, status: number, message?: RegExp): OperationOutcomeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OperationOutcomeError);
    const err = e as OperationOutcomeError;
    expect(err.status).toBe(status);
    if (message) expect(err.message).toMatch(message);
    return err;
  }
  throw new Error('expected an OperationOutcomeError');
}

describe('FHIRPath Patch: official test cases (fhir-patch-tests.xml)', () => {
  if (!existsSync(FHIR_PATCH_TESTS)) {
    it.skip(`fixture missing: ${FHIR_PATCH_TESTS} (shared/fixtures is not beside this checkout)`, () => undefined);
    return;
  }
  const cases = readCases(FHIR_PATCH_TESTS);

  it('reads all 33 cases', () => {
    expect(cases).toHaveLength(33);
  });

  const withOutput = cases.filter((c) => c.output !== undefined);
  const withError = cases.filter((c) => c.error !== undefined);

  it.each(withOutput.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const input = xmlToResource(c.input);
    const before = structuredClone(input);
    const result = applyFhirPathPatch(input, xmlToResource(c.diff) as Parameters);
    expect(normaliseNarratives(result)).toEqual(normaliseNarratives(xmlToResource(c.output as string)));
    expect(input).toEqual(before);
  });

  it.each(withError.map((c) => [c.name, c] as const))('%s fails', (_name, c) => {
    const err = expectOutcome(() => applyFhirPathPatch(xmlToResource(c.input), xmlToResource(c.diff) as Parameters), 422);
    expect(err.message).toContain(c.error);
  });
});

// ---------------------------------------------------------------------------------------------

function op(type: string, pathExpr: string, more: ParametersParameter[] = []): ParametersParameter {
  return { name: 'operation', part: [{ name: 'type', valueCode: type }, { name: 'path', valueString: pathExpr }, ...more] };
}
const patch = (...parameter: ParametersParameter[]): Parameters => ({ resourceType: 'Parameters', parameter });

describe('FHIRPath Patch: behaviour beyond the official cases', () => {
  const patient: Patient = {
    resourceType: 'Patient',
    id: 'p1',
    name: [
      { use: 'official', family: 'Chalmers', given: ['Peter', 'James'], _given: [null, { extension: [{ url: 'http://e', valueString: 'x' }] }] } as never,
      { use: 'usual', given: ['Jim'] },
    ],
    extension: [
      { url: 'http://a', valueString: 'a' },
      { url: 'http://b', valueInteger: 2 },
    ],
  };

  it('keeps a repeating primitive and its extensions aligned through insert, move and delete', () => {
    let result = applyFhirPathPatch(patient, patch(op('insert', 'Patient.name[0].given', [{ name: 'index', valueInteger: 0 }, { name: 'value', valueString: 'Dr' }]))) as Patient;
    expect(result.name?.[0]).toMatchObject({ given: ['Dr', 'Peter', 'James'], _given: [null, null, { extension: [{ url: 'http://e', valueString: 'x' }] }] });
    result = applyFhirPathPatch(result, patch(op('move', 'Patient.name[0].given', [{ name: 'source', valueInteger: 2 }, { name: 'destination', valueInteger: 0 }]))) as Patient;
    expect(result.name?.[0]).toMatchObject({ given: ['James', 'Dr', 'Peter'], _given: [{ extension: [{ url: 'http://e', valueString: 'x' }] }, null, null] });
    result = applyFhirPathPatch(result, patch(op('delete', 'Patient.name[0].given[0]'))) as Patient;
    expect(result.name?.[0].given).toEqual(['Dr', 'Peter']);
    expect((result.name?.[0] as Record<string, unknown>)._given).toBeUndefined();
  });

  it('selects with where(), extension(url) and first()', () => {
    const result = applyFhirPathPatch(
      patient,
      patch(
        op('replace', "Patient.name.where(use = 'usual').given.first()", [{ name: 'value', valueString: 'Jimmy' }]),
        op('replace', "Patient.extension('http://b').value", [{ name: 'value', valueInteger: 3 }]),
      ),
    ) as Patient;
    expect(result.name?.[1].given).toEqual(['Jimmy']);
    expect(result.extension?.[1]).toEqual({ url: 'http://b', valueInteger: 3 });
  });

  it('replaces a choice element with a value of another type, and adds one by its base name', () => {
    const obs: Observation = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1 } };
    const result = applyFhirPathPatch(
      obs,
      patch(
        op('replace', 'Observation.value', [{ name: 'value', valueString: 'positive' }]),
        op('add', 'Observation', [{ name: 'name', valueString: 'effective' }, { name: 'value', valueDateTime: '2024-01-01' }]),
      ),
    ) as Observation;
    expect(result.valueString).toBe('positive');
    expect(result.valueQuantity).toBeUndefined();
    expect(result.effectiveDateTime).toBe('2024-01-01');
  });

  it('builds backbone elements from nested parts, with repeating children', () => {
    const result = applyFhirPathPatch(
      { resourceType: 'Patient' },
      patch(
        op('add', 'Patient', [
          { name: 'name', valueString: 'contact' },
          {
            name: 'value',
            part: [
              { name: 'relationship', valueCodeableConcept: { text: 'mother' } },
              { name: 'telecom', valueContactPoint: { system: 'phone', value: '1' } },
              { name: 'gender', valueCode: 'female' },
            ],
          },
        ]),
      ),
    );
    expect(result).toEqual({
      resourceType: 'Patient',
      contact: [{ relationship: [{ text: 'mother' }], telecom: [{ system: 'phone', value: '1' }], gender: 'female' }],
    });
  });

  it('adds a contained resource given as a resource part', () => {
    const result = applyFhirPathPatch(
      { resourceType: 'Patient' },
      patch(op('add', 'Patient', [{ name: 'name', valueString: 'contained' }, { name: 'value', resource: { resourceType: 'Organization', id: 'o' } }])),
    );
    expect(result).toEqual({ resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o' }] });
  });

  it('never changes its input', () => {
    const before = structuredClone(patient);
    applyFhirPathPatch(patient, patch(op('delete', 'Patient.name[0]'), op('replace', 'Patient.id', [{ name: 'value', valueId: 'p2' }])));
    expect(patient).toEqual(before);
  });

  it('deleting what is not there is not an error', () => {
    expect(applyFhirPathPatch(patient, patch(op('delete', 'Patient.birthDate')))).toEqual(patient);
  });

  describe('a patch that cannot apply to this resource: 422 naming the operation', () => {
    const cases: [string, Parameters, RegExp][] = [
      ['replace selecting several elements', patch(op('replace', 'Patient.name.given', [{ name: 'value', valueString: 'x' }])), /operation 1 \(replace.*selects 3 elements/],
      ['delete selecting several elements', patch(op('delete', 'Patient.name')), /operation 1 \(delete.*selects 2 elements/],
      ['replace of nothing', patch(op('replace', 'Patient.birthDate', [{ name: 'value', valueDate: '2000-01-01' }])), /No content found at Patient.birthDate when replacing/],
      ['insert past the end', patch(op('insert', 'Patient.name', [{ name: 'index', valueInteger: 3 }, { name: 'value', valueHumanName: { text: 'x' } }])), /index 3 is outside the list \(0 to 2\)/],
      ['insert at a negative index', patch(op('insert', 'Patient.name', [{ name: 'index', valueInteger: -1 }, { name: 'value', valueHumanName: { text: 'x' } }])), /index -1/],
      ['move from outside the list', patch(op('move', 'Patient.name', [{ name: 'source', valueInteger: 2 }, { name: 'destination', valueInteger: 0 }])), /source index 2 is outside the list \(0 to 1\)/],
      ['insert into a non-repeating element', patch(op('insert', 'Patient.gender', [{ name: 'index', valueInteger: 0 }, { name: 'value', valueCode: 'male' }])), /not a list/],
      ['add of an element that already has a value', patch(op('add', 'Patient', [{ name: 'name', valueString: 'id' }, { name: 'value', valueId: 'x' }])), /already has a value/],
      ['add of an unknown element', patch(op('add', 'Patient', [{ name: 'name', valueString: 'colour' }, { name: 'value', valueString: 'x' }])), /Patient has no element 'colour'/],
      ['a path that makes values, not elements', patch(op('delete', 'Patient.name.count()')), /count\(\) does not select elements/],
      [
        'the second operation failing',
        patch(op('replace', 'Patient.id', [{ name: 'value', valueId: 'x' }]), op('replace', 'Patient.photo', [{ name: 'value', valueString: 'x' }])),
        /operation 2 \(replace at Patient.photo\)/,
      ],
    ];
    it.each(cases)('%s', (_name, p, message) => {
      const err = expectOutcome(() => applyFhirPathPatch(patient, p), 422, message);
      expect(err.outcome.issue[0].code).toBe('processing');
    });
  });

  describe('a malformed patch: 400', () => {
    const cases: [string, unknown, RegExp][] = [
      ['not a Parameters', { resourceType: 'Patient' }, /must be a Parameters resource/],
      ['a parameter other than operation', { resourceType: 'Parameters', parameter: [{ name: 'op' }] }, /holds only 'operation' parameters/],
      ['no type', patch({ name: 'operation', part: [{ name: 'path', valueString: 'Patient' }] }), /'type' part is missing/],
      ['an unknown type', patch(op('copy', 'Patient')), /unknown type 'copy'/],
      ['no path', patch({ name: 'operation', part: [{ name: 'type', valueCode: 'delete' }] }), /'path' part is missing/],
      ['add without value', patch(op('add', 'Patient', [{ name: 'name', valueString: 'gender' }])), /'value' part is missing/],
      ['insert without index', patch(op('insert', 'Patient.name', [{ name: 'value', valueHumanName: {} }])), /'index' part is missing/],
      ['move without destination', patch(op('move', 'Patient.name', [{ name: 'source', valueInteger: 0 }])), /'destination' part is missing/],
      ['a path that is not FHIRPath', patch(op('delete', 'Patient.name[')), /not a valid FHIRPath expression/],
      ['an index that is not an integer', patch(op('insert', 'Patient.name', [{ name: 'index', valueString: 'first' }, { name: 'value', valueHumanName: {} }])), /must be a valueInteger/],
      ['an unknown part', patch(op('delete', 'Patient.name', [{ name: 'where', valueString: 'x' }])), /unknown part 'where'/],
      ['a value without content', patch(op('replace', 'Patient.id', [{ name: 'value' }])), /has no value\[x\], resource or parts/],
    ];
    it.each(cases)('%s', (_name, p, message) => {
      expectOutcome(() => applyFhirPathPatch(patient, p as Parameters), 400, message);
    });
  });

  it('an empty patch returns an equal copy, not the input itself', () => {
    const result = applyFhirPathPatch(patient, patch());
    expect(result).toEqual(patient);
    expect(result).not.toBe(patient);
    expect((result as Resource).resourceType).toBe('Patient');
  });
});
