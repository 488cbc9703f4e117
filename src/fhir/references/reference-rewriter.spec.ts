import type { DocumentReference, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { collectReferences, rewriteReferences, withLocalReferences } from './reference-rewriter';

const BINARY = 'urn:uuid:6a1b2c3d-0000-4000-8000-000000000001';
const PATIENT = 'urn:uuid:6a1b2c3d-0000-4000-8000-000000000002';
const ids: Record<string, string> = { [BINARY]: 'Binary/b1', [PATIENT]: 'Patient/p1' };
const resolvers = { reference: (v: string) => ids[v], uri: (v: string) => ids[v] };

const documentReference = (): DocumentReference => ({
  resourceType: 'DocumentReference',
  status: 'current',
  subject: { reference: PATIENT },
  // Identifier.value is a string, not a link, even when it holds the same URN.
  masterIdentifier: { system: 'urn:ietf:rfc:3986', value: BINARY },
  content: [{ attachment: { contentType: 'text/plain', url: BINARY } }],
  extension: [{ url: 'http://example.org/fhir/StructureDefinition/source', valueUrl: BINARY }],
  contained: [{ resourceType: 'Media', id: 'm', status: 'completed', content: { url: BINARY } }],
  text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml"><a href="${BINARY}">file</a></div>` },
});

describe('rewriteReferences', () => {
  beforeAll(() => loadFhirDefinitions());

  it('rewrites references, narrative links, and uri/url elements (Attachment.url, extensions, contained resources) naming an entry', () => {
    const input = documentReference();
    const out = rewriteReferences(input, resolvers);
    expect(out.subject?.reference).toBe('Patient/p1');
    expect(out.content[0].attachment.url).toBe('Binary/b1');
    expect(out.extension?.[0].valueUrl).toBe('Binary/b1');
    expect(out.extension?.[0].url).toBe('http://example.org/fhir/StructureDefinition/source');
    expect((out.contained?.[0] as { content: { url: string } }).content.url).toBe('Binary/b1');
    expect(out.text?.div).toContain('href="Binary/b1"');
    expect(out.masterIdentifier?.value).toBe(BINARY);
    expect(input.content[0].attachment.url).toBe(BINARY); // the input is left untouched
  });

  it('rewrites every value of a repeating uri element and leaves other values alone', () => {
    const plan = { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: 'Patient/x' }, instantiatesUri: [BINARY, 'http://example.org/protocol'] } as Resource;
    expect((rewriteReferences(plan, resolvers) as { instantiatesUri: string[] }).instantiatesUri).toEqual(['Binary/b1', 'http://example.org/protocol']);
  });

  it('rewrites only references when no uri resolver is given (batch entries)', () => {
    const out = rewriteReferences(documentReference(), (v) => ids[v]);
    expect(out.subject?.reference).toBe('Patient/p1');
    expect(out.content[0].attachment.url).toBe(BINARY);
  });

  it('collects reference strings and narrative links, not uri elements', () => {
    expect(collectReferences(documentReference()).map((r) => r.reference)).toEqual([PATIENT, BINARY]);
  });

  it('skipBundleEntries leaves the entries of a Bundle resource alone but still rewrites its own links', () => {
    const doc = {
      resourceType: 'Bundle',
      type: 'document',
      signature: { type: [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1' }], when: '2024-01-01T00:00:00Z', who: { reference: PATIENT } },
      entry: [{ fullUrl: BINARY, resource: { resourceType: 'Composition', subject: { reference: PATIENT } } }],
    } as unknown as Resource;
    const out = rewriteReferences(doc, resolvers, { skipBundleEntries: true }) as unknown as { signature: { who: { reference: string } }; entry: Array<{ fullUrl: string; resource: { subject: { reference: string } } }> };
    expect(out.signature.who.reference).toBe('Patient/p1');
    expect(out.entry[0].resource.subject.reference).toBe(PATIENT);
    expect(out.entry[0].fullUrl).toBe(BINARY);
    expect(collectReferences(doc, { skipBundleEntries: true }).map((r) => r.reference)).toEqual([PATIENT]);
    // Without the option (the write path's own-base rewriting) the walk goes everywhere.
    expect((rewriteReferences(doc, resolvers) as unknown as typeof out).entry[0].resource.subject.reference).toBe('Patient/p1');
  });
});

describe('withLocalReferences', () => {
  const base = 'https://fhir.example.org/r4/fhir';
  const obs = (subject: string, performer: string): Resource =>
    ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: subject }, performer: [{ reference: performer }] }) as Resource;

  it('makes references to the own base relative, versions kept, and leaves everything else alone', () => {
    const out = withLocalReferences(obs(`${base}/Patient/p1`, `${base}/Practitioner/d1/_history/3`), `${base}/`) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(out.subject.reference).toBe('Patient/p1');
    expect(out.performer[0].reference).toBe('Practitioner/d1/_history/3');
    for (const other of ['https://fhir.example.org/r4/fhirx/Patient/p1', 'https://other.example.org/r4/fhir/Patient/p1', `${base}/Patient/p1?x=1`, `${base}/patient/p1`, `${base}/Patient/$everything`]) {
      const input = obs(other, 'Practitioner/d1');
      expect(withLocalReferences(input, base)).toBe(input);
    }
  });

  it('returns the resource itself without a base', () => {
    const input = obs(`${base}/Patient/p1`, 'Practitioner/d1');
    expect(withLocalReferences(input, undefined)).toBe(input);
  });
});
