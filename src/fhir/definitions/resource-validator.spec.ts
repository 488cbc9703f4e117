import { validateFhirResource } from './resource-validator';

/** The issues a refusal names, or [] when the resource is accepted. */
function refusal(resource: unknown): Array<{ path?: string; text?: string }> {
  try {
    validateFhirResource(resource);
    return [];
  } catch (e) {
    const issues = (e as { outcome?: { issue?: Array<{ severity: string; expression?: string[]; diagnostics?: string; details?: { text?: string } }> } }).outcome?.issue ?? [];
    return issues.filter((i) => i.severity === 'error').map((i) => ({ path: i.expression?.[0], text: i.diagnostics ?? i.details?.text }));
  }
}

describe('validateFhirResource: the rules beside Medplum\'s validator', () => {
  it('accepts base64Binary wrapped with whitespace, as R4 allows, and still refuses what is not base64', () => {
    expect(refusal({ resourceType: 'Binary', contentType: 'text/plain', data: 'aGVs\nbG8g\r\n d29y bGQ=' })).toEqual([]);
    expect(refusal({ resourceType: 'Binary', contentType: 'text/plain', data: 'aGVsbG8=' })).toEqual([]);
    expect(refusal({ resourceType: 'Binary', contentType: 'text/plain', data: 'not base64!' })).toEqual([expect.objectContaining({ path: 'Binary.data' })]);
    expect(refusal({ resourceType: 'Binary', contentType: 'text/plain', data: 'aGVsbG8\n' })).toEqual([expect.objectContaining({ path: 'Binary.data' })]); // 7 characters
  });

  it('accepts a RiskAssessment prediction without a probability (ras-2 holds: `is` on nothing is false), and still refuses a probability over 100', () => {
    const ra = (prediction: object) => ({ resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Patient/p' }, prediction: [prediction] });
    expect(() => validateFhirResource(ra({ outcome: { text: 'stroke' }, qualitativeRisk: { text: 'high' } }))).not.toThrow();
    expect(() => validateFhirResource(ra({ outcome: { text: 'stroke' }, probabilityDecimal: 0.4 }))).not.toThrow();
    let refused: unknown;
    try {
      validateFhirResource(ra({ outcome: { text: 'stroke' }, probabilityDecimal: 250 }));
    } catch (e) {
      refused = e;
    }
    expect(JSON.stringify((refused as { outcome?: unknown }).outcome)).toMatch(/Constraint ras-2 not met/);
  });

  it('answers at once on a near-miss base64 value built to make a backtracking pattern explode', () => {
    // With R4's own pattern, (\s*([0-9a-zA-Z\+\=]){4}\s*)+, 20 repetitions took 82 s.
    const started = Date.now();
    expect(refusal({ resourceType: 'Binary', contentType: 'text/plain', data: `${'abcd  '.repeat(5000)}!` })).toEqual([expect.objectContaining({ path: 'Binary.data' })]);
    expect(Date.now() - started).toBeLessThan(5000); // linear: milliseconds
  });

  it('checks the ids of contained resources and the urls of extensions (a complex extension\'s parts may be names)', () => {
    expect(refusal({ resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'org_1', name: 'x' }], managingOrganization: { reference: '#org_1' } })).toEqual([
      expect.objectContaining({ path: 'Patient.contained[0].id' }),
    ]);
    expect(refusal({ resourceType: 'Patient', extension: [{ url: 'something', valueString: 'x' }] })).toEqual([expect.objectContaining({ path: 'Patient.extension[0].url' })]);
    expect(refusal({ resourceType: 'Patient', _birthDate: { extension: [{ url: 'age', valueString: 'x' }] }, birthDate: '2000-01-01' })).toEqual([
      expect.objectContaining({ path: 'Patient._birthDate.extension[0].url' }),
    ]);
    expect(refusal({ resourceType: 'Patient', extension: [{ url: 'http://example.org/pet', extension: [{ url: 'species', valueString: 'dog' }] }] })).toEqual([]);
  });

  it('refuses a narrative that could run in a browser, naming it; an empty one is a warning', () => {
    const div = (inner: string) => ({ resourceType: 'Patient', text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${inner}</div>` } });
    expect(refusal(div('<p onclick="x()">a</p>'))).toEqual([expect.objectContaining({ path: 'Patient.text.div', text: expect.stringMatching(/onclick/) })]);
    expect(refusal(div(' '))).toEqual([]);
    expect(validateFhirResource(div(' '))).toEqual(expect.arrayContaining([expect.objectContaining({ severity: 'warning', code: 'invariant' })]));
  });
});

describe('validateFhirResource: integers are 32-bit (R4 datatypes.html#integer)', () => {
  it('refuses integer, positiveInt and unsignedInt values outside the range, naming the element', () => {
    expect(refusal({ resourceType: 'Patient', multipleBirthInteger: 3000000000 })).toEqual([expect.objectContaining({ path: 'Patient.multipleBirthInteger', text: expect.stringMatching(/outside the range/) })]);
    expect(refusal({ resourceType: 'Patient', multipleBirthInteger: -2147483649 })).toEqual([expect.objectContaining({ path: 'Patient.multipleBirthInteger' })]);
    expect(refusal({ resourceType: 'Patient', multipleBirthInteger: 2147483647 })).toEqual([]);
    expect(refusal({ resourceType: 'Patient', multipleBirthInteger: -2147483648 })).toEqual([]);
    const contained = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: '#p' }, contained: [{ resourceType: 'Patient', id: 'p', extension: [{ url: 'http://example.org/n', valueUnsignedInt: 4294967296 }] }] };
    expect(refusal(contained)).toEqual([expect.objectContaining({ path: 'Observation.contained[0].extension[0].valueUnsignedInt' })]);
  });

  it('leaves large decimals alone', () => {
    expect(refusal({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 3000000000 } })).toEqual([]);
  });
});

describe('validateFhirResource: primitive extensions (`_name` twins, json.html#primitive)', () => {
  const ext = { extension: [{ url: 'http://example.org/x', valueString: 'y' }] };

  it('accepts twins of the right shape: an object beside a value, aligned arrays beside a repeating one', () => {
    expect(refusal({ resourceType: 'Patient', birthDate: '1975', _birthDate: { id: 'a', ...ext } })).toEqual([]);
    expect(refusal({ resourceType: 'Patient', _birthDate: ext })).toEqual([]);
    expect(refusal({ resourceType: 'Patient', name: [{ given: ['A', null], _given: [null, ext] }] })).toEqual([]);
    expect(refusal({ resourceType: 'Patient', name: [{ _given: [ext] }] })).toEqual([]);
  });

  it('refuses a twin that is not an object with a 400 naming it (Medplum threw: a 500)', () => {
    for (const twin of ['x', 5, true, [ext]]) {
      expect(refusal({ resourceType: 'Patient', birthDate: '1975', _birthDate: twin })).toEqual([expect.objectContaining({ path: 'Patient._birthDate' })]);
    }
    expect(refusal({ resourceType: 'Patient', name: [{ given: ['A'], _given: ['x'] }] })).toEqual([expect.objectContaining({ path: 'Patient.name[0]._given[0]' })]);
    expect(refusal({ resourceType: 'Patient', name: [{ given: ['A'], _given: ext }] })).toEqual([expect.objectContaining({ path: 'Patient.name[0]._given' })]);
  });

  it('refuses a twin array of another length than its values (its extensions would extend no value, or another one in XML)', () => {
    expect(refusal({ resourceType: 'Patient', name: [{ given: ['A'], _given: [null, ext] }] })).toEqual([expect.objectContaining({ path: 'Patient.name[0]._given' })]);
    expect(refusal({ resourceType: 'Patient', name: [{ given: ['A', 'B'], _given: [ext] }] })).toEqual([expect.objectContaining({ path: 'Patient.name[0]._given' })]);
    const contained = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: '#p' }, contained: [{ resourceType: 'Patient', id: 'p', name: [{ given: ['A'], _given: [ext, ext] }] }] };
    expect(refusal(contained)).toEqual([expect.objectContaining({ path: 'Observation.contained[0].name[0]._given' })]);
  });
});

describe('validateFhirResource: contained resources and local references (dom-3, ref-1)', () => {
  const obs = (more: object) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...more });

  it('refuses a contained resource nothing refers to, and a local reference to no contained resource (Medplum skips dom-3 and passed both)', () => {
    expect(refusal(obs({ contained: [{ resourceType: 'Practitioner', id: 'pr' }] }))).toEqual([expect.objectContaining({ path: 'Observation.contained[0]', text: expect.stringMatching(/dom-3/) })]);
    expect(refusal(obs({ performer: [{ reference: '#nope' }] }))).toEqual([expect.objectContaining({ path: 'Observation.performer[0]', text: expect.stringMatching(/ref-1/) })]);
    expect(refusal(obs({ contained: [{ resourceType: 'Practitioner', id: 'pr' }], performer: [{ reference: '#pr' }] }))).toEqual([]);
  });
});

describe('validateFhirResource: issue paths are FHIRPath', () => {
  it('names a choice element by the type it holds (value.ofType(Quantity)), not as value[x]', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1, comparator: '~' }, effectiveDateTime: 'yesterday' };
    expect(refusal(obs).map((i) => i.path).sort()).toEqual(['Observation.effective.ofType(dateTime)', 'Observation.value.ofType(Quantity).comparator']);
  });
});
