import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { parseFhirBody } from '../json/fhir-body';
import { xmlToResource } from '../rest/fhir-xml';
import { validateFhirResource } from './resource-validator';

/**
 * The R4 base-spec cases of the HL7 validator test suite (fixtures/validator-cases, with the Java
 * reference validator's outcome), run through the validator of every write. Records where we
 * differ and why, so that a new difference, or one that goes away, shows here.
 */
const CASES = '/work/shared/fixtures/validator-cases';

interface Case {
  file: string;
  format: 'json' | 'xml';
  flags?: string[];
  expected_java: { errorCount: number; issues: Array<{ severity: string; expression?: string[] }> };
}

/** Cases the Java validator refuses and we accept, by what we do not check. */
const NOT_REFUSED: Record<string, string> = {
  'attachment-with-wrong-size.json': 'Attachment.size against the length of its data: a check of the Java validator, no R4 invariant',
  'bad-bundle-reference-type.xml': 'the type of a resource a reference resolves to inside a Bundle',
  'list-xhtml-empty.xml': 'txt-2 (an empty narrative) is a warning here: four official R4 examples have one, and it harms nobody',
  'maiden-name.json': 'extension definitions (where an extension may be used): any extension with an absolute url is accepted',
  'patient-extension-complex-bad1.xml': 'extension definitions (the slices of a complex extension, its context)',
  'sp-diff-type.json': 'a SearchParameter against the one it is derivedFrom',
  'bundle-duplicate-id.json': 'a relative Bundle.entry.fullUrl',
  'relative_reference_to_fullUrl.id_in_target_resource.xml': 'references resolved inside a document Bundle',
  'relative_reference_to_TYPE_ID.all_fullUrl_UUID.xml': 'references resolved inside a document Bundle',
  'document-css.xml': 'references resolved inside a document Bundle',
  'ips-htmlrefs-backwards.json': 'references resolved inside a document Bundle, and extension definitions',
  'bundle-document-versioned-references-bad.json': 'versioned references inside a document Bundle',
};

/** Cases both refuse where no issue of ours names a path the Java validator names. */
const OTHER_PATHS: Record<string, string> = {
  'bad-json-close-2.json': 'malformed JSON: no path on either side',
  'japanese-utf8-ok.xml': 'not UTF-8: refused before any element is read',
  'capabilitystatement-measure-processor.xml': 'an unknown element refuses the XML before it becomes a resource',
  'patient-extension-bad.xml': 'we name the relative url (Extension.url), Java the extension',
  'patient-extension-bad3.xml': 'we name the relative url (Extension.url), Java the extension',
  'versioned-extension.json': 'we name the relative url (Extension.url), Java the extension',
  'Observation-ex-pain.json': 'missing elements are named by the element (Observation.code), Java names the resource; an unknown property inside valueInteger by its own path',
  'obs-vs-2.json': 'we refuse the narrative (a div holding a <head>), Java the text, an extension and the code',
  'ai8.json': 'missing elements are named by the element, Java names the resource',
};

const needsTerminology = (c: Case) => (c.flags ?? []).some((f) => /terminology/.test(f));
const javaPaths = (c: Case) =>
  c.expected_java.issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').map((i) => (i.expression?.[0] ?? '').replace(/\/\*[^*]*\*\//g, ''));

/** Our error paths, or null when the case is accepted. */
function ourErrors(c: Case): string[] | null {
  const text = readFileSync(join(CASES, 'cases', c.file), 'utf8').replace(/^\uFEFF/, '');
  try {
    validateFhirResource(c.format === 'json' ? parseFhirBody(text) : xmlToResource(text));
    return null;
  } catch (e) {
    const issues = (e as { outcome?: { issue?: Array<{ severity: string; expression?: string[] }> } }).outcome?.issue;
    if (!issues) return ['(not parsed)'];
    return issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').map((i) => i.expression?.[0] ?? '');
  }
}

(existsSync(join(CASES, 'manifest.json')) ? describe : describe.skip)('validator-cases (HL7 validator test suite, R4 base spec)', () => {
  const cases = existsSync(join(CASES, 'manifest.json')) ? (JSON.parse(readFileSync(join(CASES, 'manifest.json'), 'utf8')) as { test_cases: Case[] }).test_cases : [];
  const results = new Map(cases.map((c) => [c.file, ourErrors(c)]));

  it('accepts every case the Java validator finds error-free', () => {
    const refused = cases.filter((c) => c.expected_java.errorCount === 0 && results.get(c.file)).map((c) => `${c.file}: ${results.get(c.file)?.join(', ')}`);
    expect(refused).toEqual([]);
  });

  it('refuses every case the Java validator refuses, but those that need a terminology server or are listed with what we do not check', () => {
    const accepted = cases.filter((c) => c.expected_java.errorCount > 0 && !results.get(c.file) && !needsTerminology(c)).map((c) => c.file);
    expect(accepted.sort()).toEqual(Object.keys(NOT_REFUSED).sort());
  });

  it('names a path the Java validator names, but in the cases listed with why not', () => {
    const elsewhere = cases
      .filter((c) => c.expected_java.errorCount > 0 && results.get(c.file))
      .filter((c) => !results.get(c.file)?.some((p) => javaPaths(c).includes(p)))
      .map((c) => c.file);
    expect(elsewhere.sort()).toEqual(Object.keys(OTHER_PATHS).sort());
  });
});
