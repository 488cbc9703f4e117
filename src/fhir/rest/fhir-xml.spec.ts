import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../operation-outcome';
import { MAX_XML_DEPTH, resourceToXml, xmlToResource } from './fhir-xml';
import { parseFhirJson } from '../json/fhir-json';
import { stringifyFhirJson } from '../json/lexemes';

const EXAMPLES_DIR = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
const PATCH_TESTS = path.resolve(__dirname, '../../../../shared/fixtures/conformance/patch-tests/fhir-patch-tests.xml');

function expectStatus(fn: () => unknown, status: number, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OperationOutcomeError);
    expect((e as OperationOutcomeError).status).toBe(status);
    if (message) expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected an OperationOutcomeError');
}

/** The first path at which two JSON values differ, to make a failed round trip readable. */
function firstDifference(a: unknown, b: unknown, at = ''): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return `${at || '(root)'}: ${JSON.stringify(a)?.slice(0, 120)} -> ${JSON.stringify(b)?.slice(0, 120)}`;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
    if (d) return d;
  }
  return at;
}

/** Mean and median per resource, and throughput: the examples range from 300 bytes to 8 MB. */
function timing(ms: number[], chars: number): string {
  const total = ms.reduce((a, b) => a + b, 0);
  const median = [...ms].sort((a, b) => a - b)[ms.length >> 1];
  return `mean ${(total / ms.length).toFixed(3)} ms, median ${median.toFixed(3)} ms per resource, ${(chars / 1e3 / total).toFixed(1)} M characters/s`;
}

describe('FHIR XML: official R4 examples round trip JSON -> XML -> JSON', () => {
  it('every JSON example of hl7.fhir.r4.examples reads back deep-equal', () => {
    const files = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json') && f !== 'package.json' && !f.startsWith('.'));
    // The package ships JSON only (no XML twins to compare against), so the check is the round trip.
    const failures: string[] = [];
    const toXmlMs: number[] = [];
    const toJsonMs: number[] = [];
    let xmlChars = 0;
    let count = 0;
    for (const file of files) {
      const resource = JSON.parse(readFileSync(path.join(EXAMPLES_DIR, file), 'utf8')) as Resource;
      if (!resource.resourceType) continue;
      count++;
      try {
        const t0 = performance.now();
        const xml = resourceToXml(resource);
        const t1 = performance.now();
        const back = xmlToResource(xml);
        toXmlMs.push(t1 - t0);
        toJsonMs.push(performance.now() - t1);
        xmlChars += xml.length;
        const diff = firstDifference(resource, back);
        if (diff !== undefined) failures.push(`${file}: ${diff}`);
      } catch (e) {
        failures.push(`${file}: ${(e as Error).message}`);
      }
    }
    console.log(
      `FHIR XML round trip of ${count} R4 examples (${(xmlChars / 1e6).toFixed(1)} M characters of XML), ${failures.length} failures\n` +
        `  JSON->XML ${timing(toXmlMs, xmlChars)}\n  XML->JSON ${timing(toJsonMs, xmlChars)}`,
    );
    expect(count).toBeGreaterThan(5000);
    expect(failures).toEqual([]);
  }, 600_000);
});

describe('FHIR XML: the official patch-test resources parse', () => {
  if (!existsSync(PATCH_TESTS)) {
    it.skip(`fixture missing: ${PATCH_TESTS} (shared/fixtures is not beside this checkout)`, () => undefined);
    return;
  }
  const text = readFileSync(PATCH_TESTS, 'utf8');
  const resources = [...text.matchAll(/<(input|diff|output)>([\s\S]*?)<\/\1>/g)].map((m) => m[2]);

  it('parses all inputs, patches and outputs, and they round trip XML -> JSON -> XML -> JSON', () => {
    expect(resources.length).toBeGreaterThanOrEqual(90);
    for (const xml of resources) {
      const json = xmlToResource(xml);
      expect(['Patient', 'Parameters']).toContain(json.resourceType);
      expect(xmlToResource(resourceToXml(json))).toEqual(json);
    }
  });
});

describe('FHIR XML: mapping rules', () => {
  const patientXml = `<?xml version="1.0" encoding="UTF-8"?>
    <Patient xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://hl7.org/fhir patient.xsd">
      <!-- a comment is not content -->
      <id value="p1"/>
      <text>
        <status value="generated"/>
        <div xmlns="http://www.w3.org/1999/xhtml"><p>Jim &quot;Chalmers&quot; &amp; <b>co</b></p></div>
      </text>
      <contained>
        <Organization><id value="o1"/><name value="Acme"/></Organization>
      </contained>
      <extension url="http://example.org/ext"><valueDecimal value="1.5"/></extension>
      <active value="true"/>
      <name id="n1">
        <family value="du Marché">
          <extension url="http://hl7.org/fhir/StructureDefinition/humanname-own-prefix"><valueString value="VV"/></extension>
        </family>
        <given value="Peter"/>
        <given id="g2"><extension url="http://example.org/absent"><valueCode value="unknown"/></extension></given>
        <given value="James"/>
      </name>
      <birthDate value="1974-12-25"/>
      <deceasedBoolean value="false"/>
      <multipleBirthInteger value="2"/>
      <managingOrganization><reference value="#o1"/></managingOrganization>
    </Patient>`;

  it('maps primitives, their id/extensions, choice types, attributes, contained resources and the narrative', () => {
    expect(xmlToResource(patientXml)).toEqual({
      resourceType: 'Patient',
      id: 'p1',
      text: {
        status: 'generated',
        div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Jim &quot;Chalmers&quot; &amp; <b>co</b></p></div>',
      },
      contained: [{ resourceType: 'Organization', id: 'o1', name: 'Acme' }],
      extension: [{ url: 'http://example.org/ext', valueDecimal: 1.5 }],
      active: true,
      name: [
        {
          id: 'n1',
          family: 'du Marché',
          _family: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/humanname-own-prefix', valueString: 'VV' }] },
          given: ['Peter', null, 'James'],
          _given: [null, { id: 'g2', extension: [{ url: 'http://example.org/absent', valueCode: 'unknown' }] }, null],
        },
      ],
      birthDate: '1974-12-25',
      deceasedBoolean: false,
      multipleBirthInteger: 2,
      managingOrganization: { reference: '#o1' },
    });
  });

  it('writes elements in StructureDefinition order whatever the JSON order, ids and urls as attributes', () => {
    const xml = resourceToXml({
      resourceType: 'Patient',
      birthDate: '2000-01-01',
      name: [{ given: ['A'], family: 'B', id: 'x' }],
      id: 'p',
      extension: [{ valueString: 'v', url: 'http://e' }],
    } as Resource);
    expect(xml).toBe(
      '<Patient xmlns="http://hl7.org/fhir"><id value="p"/><extension url="http://e"><valueString value="v"/></extension>' +
        '<name id="x"><family value="B"/><given value="A"/></name><birthDate value="2000-01-01"/></Patient>',
    );
  });

  it('escapes attribute values, keeping newlines and tabs as character references', () => {
    const resource = { resourceType: 'Basic', id: 'b', code: { text: 'a < b & "c"\n\td' } } as Resource;
    const xml = resourceToXml(resource);
    expect(xml).toContain('<text value="a &lt; b &amp; &quot;c&quot;&#10;&#9;d"/>');
    expect(xmlToResource(xml)).toEqual(resource);
  });

  it('nests resources in Bundle entries and Parameters', () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient', active: true } },
        {
          resource: {
            resourceType: 'Parameters',
            parameter: [{ name: 'r', resource: { resourceType: 'Basic', code: { text: 't' } } }, { name: 'p', part: [{ name: 'q', valueInteger: 3 }] }],
          },
        },
      ],
    } as Resource;
    const xml = resourceToXml(bundle);
    expect(xml).toContain('<resource><Patient><active value="true"/></Patient></resource>');
    expect(xmlToResource(xml)).toEqual(bundle);
  });

  it('rejects malformed XML with 400', () => {
    expectStatus(() => xmlToResource('<Patient xmlns="http://hl7.org/fhir"><active value="true"></Patient>'), 400, /Malformed XML/);
    expectStatus(() => xmlToResource(''), 400, /empty/);
    expectStatus(() => xmlToResource('not xml'), 400, /Malformed XML/);
  });

  it('rejects documents that are not FHIR resources with 400', () => {
    expectStatus(() => xmlToResource('<note><to>x</to></note>'), 400, /not in the FHIR namespace/);
    expectStatus(() => xmlToResource('<Note xmlns="http://hl7.org/fhir"/>'), 400, /not a FHIR R4 resource type/);
    expectStatus(() => xmlToResource('<Patient><active value="true"/></Patient>'), 400, /FHIR namespace/);
    expectStatus(() => xmlToResource('<Patient xmlns="http://hl7.org/fhir"><foo value="1"/></Patient>'), 400, /Unknown element <foo>/);
    expectStatus(() => xmlToResource('<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>'), 400, /not a boolean/);
    expectStatus(() => xmlToResource('<Patient xmlns="http://hl7.org/fhir"><gender value="male"/><gender value="female"/></Patient>'), 400, /does not repeat/);
    expectStatus(() => xmlToResource('<Patient xmlns="http://hl7.org/fhir"><active>true</active></Patient>'), 400, /Unexpected text 'true'/);
    expectStatus(() => xmlToResource('<Patient xmlns="http://hl7.org/fhir"><id value="&nbsp;"/></Patient>'), 400, /entity/);
  });

  it('refuses DTDs, so no external entity (XXE) or entity expansion can happen', () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY x SYSTEM "file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>';
    expectStatus(() => xmlToResource(xxe), 400, /DTD/);
    const bomb = '<!DOCTYPE Patient [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Patient xmlns="http://hl7.org/fhir"/>';
    expectStatus(() => xmlToResource(bomb), 400, /DTD/);
  });

  it('limits nesting depth both ways', () => {
    const deep = (n: number) => '<extension url="u">'.repeat(n) + '</extension>'.repeat(n);
    expectStatus(() => xmlToResource(`<Basic xmlns="http://hl7.org/fhir">${deep(MAX_XML_DEPTH + 5)}</Basic>`), 400);
    let ext: Record<string, unknown> = { url: 'u', valueString: 'x' };
    for (let i = 0; i < MAX_XML_DEPTH + 5; i++) ext = { url: 'u', extension: [ext] };
    expectStatus(() => resourceToXml({ resourceType: 'Basic', extension: [ext] } as unknown as Resource), 400, /nested more than/);
  });

  it('refuses JSON that has no XML form rather than dropping it', () => {
    expectStatus(() => resourceToXml({ resourceType: 'Patient', foo: 1 } as unknown as Resource), 400, /Unknown property 'foo'/);
    expectStatus(() => resourceToXml({ resourceType: 'Nope' } as unknown as Resource), 400, /not a FHIR R4 resource type/);
    expectStatus(() => resourceToXml({ resourceType: 'Patient', active: 'true' } as unknown as Resource), 400, /JSON boolean/);
    expectStatus(
      () => resourceToXml({ resourceType: 'Patient', text: { status: 'generated', div: '<div>a</div><script/>' } } as Resource),
      400,
      /well-formed XHTML/,
    );
    expectStatus(() => resourceToXml({ resourceType: 'Patient', id: 'a\u0001' } as Resource), 400, /control character/);
  });
});

describe('FHIR XML decimals and integers', () => {
  const xml = (value: string) =>
    `<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="x"/></code><valueQuantity><value value="${value}"/></valueQuantity></Observation>`;

  it('keeps the lexeme of a decimal from XML to JSON and back', () => {
    for (const value of ['1.50', '1.0', '123456789012345678.5', '1.2e10', '0.00000010']) {
      const resource = xmlToResource(xml(value));
      expect((resource as any).valueQuantity.value).toBe(Number(value));
      expect(stringifyFhirJson(resource)).toContain(`"value":${value}}`);
      expect(resourceToXml(resource)).toContain(`<value value="${value}"/>`);
    }
  });

  it('writes the lexemes that JSON kept as XML', () => {
    const resource = parseFhirJson('{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50}}') as Resource;
    expect(resourceToXml(resource)).toContain('<value value="1.50"/>');
  });

  it('refuses integers outside the 32-bit range', () => {
    expectStatus(() => xmlToResource('<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="3000000000"/></Patient>'), 400, /outside the range/);
    expect((xmlToResource('<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="2147483647"/></Patient>') as any).multipleBirthInteger).toBe(2147483647);
  });
});

describe('the official R4 JSON examples keep every number lexeme through parse and serialise', () => {
  /** The number tokens of a JSON text, strings skipped. */
  const numbers = (text: string) => [...text.matchAll(/"(?:[^"\\]|\\.)*"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/g)].filter((m) => m[1] !== undefined).map((m) => m[1]);

  it('round-trips each number as written', () => {
    const files = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json') && f !== 'package.json');
    let changedByDoubles = 0;
    for (const f of files) {
      const text = readFileSync(path.join(EXAMPLES_DIR, f), 'utf8');
      const before = numbers(text);
      if (!before.length) continue;
      let parsed: unknown;
      try {
        parsed = parseFhirJson(text);
      } catch {
        continue; // not JSON (the package holds other files)
      }
      if (numbers(JSON.stringify(JSON.parse(text))).join() !== before.join()) changedByDoubles++;
      expect({ f, numbers: numbers(stringifyFhirJson(parsed)) }).toEqual({ f, numbers: before });
    }
    // The examples that lost a trailing zero or digits before lexemes were kept.
    expect(changedByDoubles).toBeGreaterThanOrEqual(21);
  });
});

describe('resourceToXml with pretty', () => {
  it('puts one element per line, indented by level, keeps the narrative verbatim, and reads back the same', () => {
    const div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Peter <b>James</b>\n  Chalmers</p></div>';
    const patient = { resourceType: 'Patient', id: 'p1', text: { status: 'generated', div }, name: [{ family: 'Chalmers', given: ['Peter', 'James'] }], active: true } as Resource;
    const pretty = resourceToXml(patient, { pretty: true });
    expect(pretty.split('\n').slice(0, 6)).toEqual([
      '<Patient xmlns="http://hl7.org/fhir">',
      '  <id value="p1"/>',
      '  <text>',
      '    <status value="generated"/>',
      `    ${div.split('\n')[0]}`,
      `  Chalmers</p></div>`,
    ]);
    expect(pretty).toContain('  <name>\n    <family value="Chalmers"/>\n    <given value="Peter"/>');
    expect(pretty.endsWith('\n</Patient>')).toBe(true);
    expect(xmlToResource(pretty)).toEqual(patient);
    // Without pretty: compact, and no trace of the narrative's marks.
    const compact = resourceToXml(patient);
    expect(compact).not.toContain('\n  <');
    expect(compact).not.toContain('\u0000');
    expect(compact).toContain(`<status value="generated"/>${div}</text>`);
  });
});
