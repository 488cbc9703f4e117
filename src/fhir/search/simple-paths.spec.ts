import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, Patient, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { extractIndexRows, extractIndexRowsByEngine, type IndexRows } from './index-extractor';
import { compileSimplePaths, evalSimplePaths } from './simple-paths';
import { hl7Examples } from '../../../test/helpers/mapper-fixtures';

beforeAll(() => loadFhirDefinitions());

describe('compileSimplePaths', () => {
  it('compiles a union of plain paths with the type each ends on, from the definitions', () => {
    expect(compileSimplePaths('AuditEvent.agent.who | AuditEvent.entity.what', 'AuditEvent')).toEqual([
      { steps: ['agent', 'who'], type: 'Reference' },
      { steps: ['entity', 'what'], type: 'Reference' },
    ]);
    expect(compileSimplePaths('Patient.name.family', 'Patient')).toEqual([{ steps: ['name', 'family'], type: 'string' }]);
  });

  it('compiles the two filters R4 uses most: where(resolve() is T) on references, where(name=\'literal\') on a primitive', () => {
    expect(compileSimplePaths('Observation.subject.where(resolve() is Patient)', 'Observation')).toEqual([{ steps: ['subject'], type: 'Reference', resolvesTo: 'Patient' }]);
    expect(compileSimplePaths("Patient.telecom.where(system='phone')", 'Patient')).toEqual([{ steps: ['telecom'], type: 'ContactPoint', where: { name: 'system', value: 'phone' } }]);
    // resolve() on something that is not a Reference, a filter on a complex element, other functions: the engine.
    expect(compileSimplePaths('Patient.name.where(resolve() is Patient)', 'Patient')).toBeUndefined();
    expect(compileSimplePaths("Patient.telecom.where(period='x')", 'Patient')).toBeUndefined();
    expect(compileSimplePaths("Patient.telecom.where(system='phone').value", 'Patient')).toBeUndefined();
    expect(compileSimplePaths("Patient.telecom.where(system!='phone')", 'Patient')).toBeUndefined();
  });

  it('leaves functions, casts, choice elements, unknown elements and other types to the FHIRPath engine', () => {
    expect(compileSimplePaths('Patient.telecom.exists()', 'Patient')).toBeUndefined();
    expect(compileSimplePaths('(Observation.value as Quantity)', 'Observation')).toBeUndefined();
    expect(compileSimplePaths('Observation.value', 'Observation')).toBeUndefined(); // value[x]: several types
    expect(compileSimplePaths('Patient.nosuch', 'Patient')).toBeUndefined();
    expect(compileSimplePaths('Practitioner.name', 'Patient')).toBeUndefined();
  });
});

describe('evalSimplePaths', () => {
  it('flattens arrays at every step and drops absent and null values, as FHIRPath does', () => {
    const p: Patient = { resourceType: 'Patient', name: [{ given: ['Anna', 'Lena'] }, { family: 'X' }, { given: ['Eva'] }] };
    const paths = compileSimplePaths('Patient.name.given', 'Patient')!;
    expect(evalSimplePaths(paths, p)).toEqual([
      { type: 'string', value: 'Anna' },
      { type: 'string', value: 'Lena' },
      { type: 'string', value: 'Eva' },
    ]);
    expect(evalSimplePaths(compileSimplePaths('Patient.gender', 'Patient')!, { resourceType: 'Patient' })).toEqual([]);
  });
});

describe('filters, against the FHIRPath engine', () => {
  const sorted = (rows: IndexRows) => Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, (v as unknown[]).map((r) => JSON.stringify(r)).sort()]));

  it('keeps the references the engine resolves to the type, whatever their form', () => {
    const subjects = [
      { reference: 'Patient/p1' },
      { reference: 'Patient/p2/_history/3' },
      { reference: 'Group/g1' },
      { reference: 'http://other.example/fhir/Patient/p3' }, // resolves to "http:", as the engine has it
      { reference: '#contained' },
      { reference: 'Patient?identifier=urn:x|1' },
      { type: 'Patient', identifier: { system: 'urn:ssn', value: '42' } },
      { identifier: { system: 'urn:ssn', value: '43' } },
      { reference: '', type: 'Patient', identifier: { value: '44' } },
      { display: 'no reference' },
    ];
    for (const subject of subjects) {
      const o = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, subject } as Resource;
      expect([JSON.stringify(subject), sorted(extractIndexRows(o))]).toEqual([JSON.stringify(subject), sorted(extractIndexRowsByEngine(o))]);
    }
    const paths = compileSimplePaths('Observation.subject.where(resolve() is Patient)', 'Observation')!;
    const patientOnes = subjects.filter((subject) => evalSimplePaths(paths, { resourceType: 'Observation', subject } as Resource).length);
    expect(patientOnes).toEqual([subjects[0], subjects[1], subjects[5], subjects[6], subjects[8]]);
  });

  it('keeps the elements whose primitive equals the literal', () => {
    const p = {
      resourceType: 'Patient',
      id: 'p',
      telecom: [{ system: 'phone', value: '1' }, { system: 'email', value: 'a@b' }, { value: 'none' }, { system: 'Phone', value: '2' }],
    } as Patient;
    expect(sorted(extractIndexRows(p))).toEqual(sorted(extractIndexRowsByEngine(p)));
    expect(evalSimplePaths(compileSimplePaths("Patient.telecom.where(system='phone')", 'Patient')!, p).map((v) => (v.value as { value: string }).value)).toEqual(['1']);
  });
});

describe('extractIndexRows with plain paths', () => {
  const sorted = (rows: IndexRows) => Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, (v as unknown[]).map((r) => JSON.stringify(r)).sort()]));

  it('indexes a primitive that carries extensions (the engine gives it as a String object)', () => {
    const p: Patient = { resourceType: 'Patient', id: 'x', gender: 'other', _gender: { extension: [{ url: 'urn:x', valueString: 'y' }] } } as Patient;
    expect(extractIndexRows(p).token).toContainEqual(expect.objectContaining({ code: 'gender', value: 'other' }));
    expect(extractIndexRowsByEngine(p).token).toContainEqual(expect.objectContaining({ code: 'gender', value: 'other' }));
  });

  it('gives exactly the engine-evaluated rows for every official R4 example and every Synthea fixture resource', () => {
    const resources: Resource[] = hl7Examples();
    const synthea = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'synthea');
    if (existsSync(synthea)) {
      for (const sub of ['smart', 'data-pipes']) {
        const dir = path.join(synthea, sub);
        if (!existsSync(dir)) continue;
        for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
          const b = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Bundle;
          for (const e of b.entry ?? []) if (e.resource) resources.push(e.resource);
        }
      }
    } else {
      console.warn(`simple-paths spec: ${synthea} is absent; compared on the R4 examples only`);
    }
    expect(resources.length).toBeGreaterThan(3000);
    const different: string[] = [];
    for (const r of resources) {
      if (JSON.stringify(sorted(extractIndexRows(r))) !== JSON.stringify(sorted(extractIndexRowsByEngine(r)))) different.push(`${r.resourceType}/${r.id}`);
    }
    expect(different).toEqual([]);
  });
});
