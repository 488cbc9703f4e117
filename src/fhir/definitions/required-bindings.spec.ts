import { existsSync, readdirSync, readFileSync } from 'fs';
import { dirname, join } from 'path';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../operation-outcome';
import { isResourceType } from './fhir-definitions';
import { checkRequiredBindings } from './required-bindings';
import { validateFhirResource } from './resource-validator';

const paths = (issues: OperationOutcomeIssue[]) => issues.map((i) => i.expression?.[0]);

describe('checkRequiredBindings', () => {
  it('rejects a code outside a required value set, naming the value set and its codes', () => {
    const issues = checkRequiredBindings({ resourceType: 'Observation', status: 'banana', code: { text: 'x' } });
    expect(issues).toEqual([
      {
        severity: 'error',
        code: 'code-invalid',
        diagnostics:
          'Value "banana" is not in the required value set http://hl7.org/fhir/ValueSet/observation-status|4.0.1 ' +
          '(allowed: registered, preliminary, final, amended, corrected, cancelled, entered-in-error, unknown)',
        expression: ['Observation.status'],
      },
    ]);
  });

  it('checks resource elements, datatypes and backbone elements', () => {
    expect(paths(checkRequiredBindings({ resourceType: 'Patient', gender: 'banana' }))).toEqual(['Patient.gender']);
    expect(paths(checkRequiredBindings({ resourceType: 'Patient', telecom: [{ system: 'fax2', value: '1' }] }))).toEqual([
      'Patient.telecom[0].system',
    ]);
    const patient = {
      resourceType: 'Patient',
      identifier: [{ use: 'usual', value: 'a' }, { use: 'sometimes', value: 'b' }],
      name: [{ use: 'nickname', family: 'X' }],
      contact: [{ gender: 'female' }, { gender: 'f', telecom: [{ system: 'phone', use: 'mobil', value: '1' }] }],
      text: { status: 'made-up', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
      managingOrganization: { identifier: { use: 'bogus', value: 'x' } },
    };
    expect(paths(checkRequiredBindings(patient)).sort()).toEqual(
      [
        'Patient.text.status',
        'Patient.identifier[1].use',
        'Patient.contact[1].gender',
        'Patient.contact[1].telecom[0].use',
        'Patient.managingOrganization.identifier.use',
      ].sort(),
    );
  });

  it('checks each item of a repeating code and the types of choice elements', () => {
    const issues = checkRequiredBindings({
      resourceType: 'AllergyIntolerance',
      category: ['food', 'drink'],
      patient: { reference: 'Patient/1' },
    });
    expect(paths(issues)).toEqual(['AllergyIntolerance.category[1]']);
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1, comparator: '~' } };
    expect(paths(checkRequiredBindings(obs))).toEqual(['Observation.value[x].comparator']);
    const range = { ...obs, valueQuantity: undefined, valueRange: { low: { value: 1, comparator: '~' } } };
    expect(paths(checkRequiredBindings(range))).toEqual(['Observation.value[x].low.comparator']);
  });

  it('walks contained resources, Bundle entries and Parameters resources with their own types', () => {
    const patient = {
      resourceType: 'Patient',
      contained: [{ resourceType: 'Practitioner', id: 'p', gender: 'male' }, { resourceType: 'Observation', id: 'o', status: 'done', code: { text: 'x' } }],
    };
    expect(paths(checkRequiredBindings(patient))).toEqual(['Patient.contained[1].status']);

    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient', gender: 'male' }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', gender: 'm' }, request: { method: 'SEND', url: 'Patient' } },
      ],
    };
    expect(paths(checkRequiredBindings(bundle))).toEqual(['Bundle.entry[1].resource.gender', 'Bundle.entry[1].request.method']);

    const nested = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { ...patient, id: 'x' } }] };
    expect(paths(checkRequiredBindings(nested))).toEqual(['Bundle.entry[0].resource.contained[1].status']);

    const params = {
      resourceType: 'Parameters',
      parameter: [{ name: 'a', part: [{ name: 'b', resource: { resourceType: 'Patient', gender: 'x' } }] }],
    };
    expect(paths(checkRequiredBindings(params))).toEqual(['Parameters.parameter[0].part[0].resource.gender']);
  });

  it('accepts valid codes and ignores extensions, _element twins, non-strings and unknown types', () => {
    expect(
      checkRequiredBindings({
        resourceType: 'Patient',
        gender: 'other',
        _gender: { extension: [{ url: 'http://example.org/x', valueCode: 'banana' }] },
        extension: [{ url: 'http://example.org/y', valueCode: 'banana', extension: [{ url: 'z', valueContactPoint: { system: 'x' } }] }],
        modifierExtension: [{ url: 'http://example.org/y', valueCode: 'banana' }],
        telecom: [{ system: 'email', use: 'work', value: 'a@b.c', extension: [{ url: 'u', valueCode: 'q' }] }],
      }),
    ).toEqual([]);
    // A wrong JSON type is the structural validator's to report.
    expect(checkRequiredBindings({ resourceType: 'Patient', gender: 42 })).toEqual([]);
    expect(checkRequiredBindings({ resourceType: 'Banana', gender: 'x' })).toEqual([]);
    expect(checkRequiredBindings({ resourceType: 'Patient', contained: [{ resourceType: 'Banana', status: 'x' }] })).toEqual([]);
  });

  it('never rejects codes of value sets it cannot enumerate (MIME types, currencies, languages)', () => {
    const doc = {
      resourceType: 'DocumentReference',
      status: 'current',
      content: [{ attachment: { contentType: 'application/x-whatever', language: 'xx-YY' } }],
    };
    expect(checkRequiredBindings(doc)).toEqual([]);
    const claim = { resourceType: 'Invoice', status: 'draft', totalNet: { value: 1, currency: 'XYZ' } };
    expect(checkRequiredBindings(claim)).toEqual([]);
  });

  it('lists at most ten allowed codes', () => {
    const [issue] = checkRequiredBindings({ resourceType: 'SearchParameter', base: ['Bananas'] });
    expect(issue.expression).toEqual(['SearchParameter.base[0]']);
    expect(issue.diagnostics).toMatch(/^Value "Bananas" is not in the required value set http:\/\/hl7.org\/fhir\/ValueSet\/resource-types\|4.0.1 \(allowed: ([^,]+, ){10}\.\.\.\)$/);
  });

  it('makes validateFhirResource answer 400 with the offending paths', () => {
    let thrown: unknown;
    try {
      validateFhirResource({ resourceType: 'Patient', gender: 'banana', telecom: [{ system: 'fax2', value: '1' }] });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(OperationOutcomeError);
    const err = thrown as OperationOutcomeError;
    expect(err.status).toBe(400);
    const invalid = (err.outcome.issue ?? []).filter((i) => i.code === 'code-invalid');
    expect(paths(invalid).sort()).toEqual(['Patient.gender', 'Patient.telecom[0].system']);
    expect(() => validateFhirResource({ resourceType: 'Patient', gender: 'female' })).not.toThrow();
  });
});

describe('checkRequiredBindings on the official R4 examples', () => {
  // No example needs an exception today: every code element of the ~5,300 R4 examples holds a
  // code of its required value set. Add 'file name': 'the bad value' here if a real one turns up.
  const KNOWN_INVALID: Record<string, string> = {};

  it('finds no required-binding issue in any of them', () => {
    const dir = dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
    const failures: string[] = [];
    let checked = 0;
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.json') || file === 'package.json' || KNOWN_INVALID[file]) continue;
      const resource = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
      if (typeof resource.resourceType !== 'string' || !isResourceType(resource.resourceType)) continue;
      checked++;
      for (const issue of checkRequiredBindings(resource)) failures.push(`${file}: ${issue.expression?.[0]}: ${issue.diagnostics}`);
    }
    expect(checked).toBeGreaterThan(2500);
    expect(failures).toEqual([]);
  });
});

const CASES = '/work/shared/fixtures/validator-cases';

(existsSync(join(CASES, 'manifest.json')) ? describe : describe.skip)('validator-cases fixtures', () => {
  interface Case {
    file: string;
    format: string;
    expected_java: { errorCount: number };
  }

  it('raises no required-binding error on a JSON case the Java validator finds error-free', () => {
    const manifest = JSON.parse(readFileSync(join(CASES, 'manifest.json'), 'utf8')) as { test_cases: Case[] };
    const falsePositives: string[] = [];
    for (const c of manifest.test_cases) {
      if (c.format !== 'json' || c.expected_java.errorCount !== 0) continue;
      let resource: unknown;
      try {
        resource = JSON.parse(readFileSync(join(CASES, 'cases', c.file), 'utf8'));
      } catch {
        continue;
      }
      if (!resource || typeof resource !== 'object') continue;
      for (const issue of checkRequiredBindings(resource as Record<string, unknown>)) falsePositives.push(`${c.file}: ${issue.expression?.[0]}`);
    }
    expect(falsePositives).toEqual([]);
  });
});
