import type { Resource } from '@medplum/fhirtypes';
import { identifierShape } from '../identity';
import { contentSha256, ownIdOf, parseRemoteReference, pulledForm, remoteReferencesOf, rewriteRemoteReferences } from './remote-references';

const BASE = 'https://ehr.example.org/fhir';
const obj = (r: Resource) => r as unknown as Record<string, unknown>;

describe('parseRemoteReference', () => {
  it('reads relative, versioned and absolute references under the base', () => {
    expect(parseRemoteReference('Patient/p1', BASE)).toEqual({ type: 'Patient', id: 'p1' });
    expect(parseRemoteReference('Patient/p1/_history/3', BASE)).toEqual({ type: 'Patient', id: 'p1' });
    expect(parseRemoteReference(`${BASE}/Encounter/e-1`, BASE)).toEqual({ type: 'Encounter', id: 'e-1' });
    expect(parseRemoteReference(`${BASE}/Encounter/e-1`, `${BASE}/`)).toEqual({ type: 'Encounter', id: 'e-1' });
  });

  it('leaves contained, urn, conditional and other servers alone', () => {
    expect(parseRemoteReference('#med', BASE)).toBeUndefined();
    expect(parseRemoteReference('urn:uuid:7f1b2a52-0000-4000-8000-000000000001', BASE)).toBeUndefined();
    expect(parseRemoteReference('Patient?identifier=x|1', BASE)).toBeUndefined();
    expect(parseRemoteReference('https://other.example.org/fhir/Patient/p1', BASE)).toBeUndefined();
    expect(parseRemoteReference('https://ehr.example.org/fhirx/Patient/p1', BASE)).toBeUndefined();
  });
});

const observation = (): Resource =>
  ({
    resourceType: 'Observation',
    id: 'o1',
    meta: { versionId: '4', lastUpdated: '2026-01-01T00:00:00Z', profile: ['http://example.org/p'] },
    status: 'final',
    code: { text: 'x' },
    subject: { reference: 'Patient/p1', display: 'Ann' },
    encounter: { reference: `${BASE}/Encounter/e1` },
    performer: [{ reference: 'Practitioner/gone' }, { reference: 'https://other.example.org/Practitioner/z' }],
    hasMember: [{ reference: 'Observation/o1' }],
    contained: [{ resourceType: 'Specimen', id: 'sp', subject: { reference: 'Patient/p1' }, parent: [{ reference: '#other' }] }],
    specimen: { reference: '#sp' },
    extension: [{ url: 'http://example.org/x', valueReference: { reference: 'Device/d1' } }],
  }) as unknown as Resource;

describe('remoteReferencesOf', () => {
  it('finds every remote reference once, nested and contained, not the resource itself', () => {
    const refs = remoteReferencesOf(observation(), BASE).map((r) => `${r.type}/${r.id}`);
    expect(refs.sort()).toEqual(['Device/d1', 'Encounter/e1', 'Patient/p1', 'Practitioner/gone']);
  });
});

describe('rewriteRemoteReferences', () => {
  const local: Record<string, string> = { 'Patient/p1': 'L-p1', 'Encounter/e1': 'L-e1', 'Observation/o1': 'L-o1' };
  const out = rewriteRemoteReferences(observation(), BASE, (r) => local[`${r.type}/${r.id}`]) as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  it('points known references at the local copies, keeping the rest of the Reference', () => {
    expect(out.subject).toEqual({ reference: 'Patient/L-p1', display: 'Ann' });
    expect(out.encounter).toEqual({ reference: 'Encounter/L-e1' });
    expect(out.hasMember).toEqual([{ reference: 'Observation/L-o1' }]);
    expect(out.contained[0].subject).toEqual({ reference: 'Patient/L-p1' });
  });

  it('turns an unknown remote reference into a logical one, never a dangling reference', () => {
    expect(out.performer[0]).toEqual({ identifier: { system: BASE, value: 'Practitioner/gone' }, display: `Practitioner/gone at ${BASE}` });
    expect(out.extension[0].valueReference).toEqual({ identifier: { system: BASE, value: 'Device/d1' }, display: `Device/d1 at ${BASE}` });
  });

  it('keeps contained and foreign references, and leaves the input untouched', () => {
    expect(out.specimen).toEqual({ reference: '#sp' });
    expect(out.contained[0].parent).toEqual([{ reference: '#other' }]);
    expect(out.performer[1]).toEqual({ reference: 'https://other.example.org/Practitioner/z' });
    expect((observation() as unknown as Record<string, any>).subject.reference).toBe('Patient/p1'); // eslint-disable-line @typescript-eslint/no-explicit-any
  });
});

describe('pulledForm', () => {
  it('drops the remote id and version, sets meta.source and adds the remote identifier', () => {
    const p = pulledForm({ resourceType: 'Patient', id: 'p1', meta: { versionId: '2', lastUpdated: '2026-01-01T00:00:00Z', source: 'x', tag: [{ code: 't' }] }, identifier: [{ system: 's', value: 'v' }] } as Resource, BASE, 'array');
    expect(p).toEqual({
      resourceType: 'Patient',
      meta: { tag: [{ code: 't' }], source: `${BASE}/Patient/p1` },
      identifier: [{ system: 's', value: 'v' }, { system: BASE, value: 'Patient/p1' }],
    });
  });

  it('does not add the identifier twice', () => {
    const p = obj(pulledForm({ resourceType: 'Patient', id: 'p1', identifier: [{ system: BASE, value: 'Patient/p1' }] } as Resource, BASE, 'array'));
    expect(p.identifier).toEqual([{ system: BASE, value: 'Patient/p1' }]);
  });

  it('sets a single identifier only when there is none, and none on types without one', () => {
    expect(obj(pulledForm({ resourceType: 'QuestionnaireResponse', id: 'q', status: 'completed' } as Resource, BASE, 'single')).identifier).toEqual({ system: BASE, value: 'QuestionnaireResponse/q' });
    expect(obj(pulledForm({ resourceType: 'QuestionnaireResponse', id: 'q', identifier: { value: 'own' } } as unknown as Resource, BASE, 'single')).identifier).toEqual({ value: 'own' });
    const prov = obj(pulledForm({ resourceType: 'Provenance', id: 'v' } as Resource, BASE, 'none'));
    expect(prov.identifier).toBeUndefined();
    expect(prov.meta).toEqual({ source: `${BASE}/Provenance/v` });
  });
});

describe('identifierShape', () => {
  it('knows the R4 definitions', () => {
    expect(identifierShape('Observation')).toBe('array');
    expect(identifierShape('QuestionnaireResponse')).toBe('single');
    expect(identifierShape('Provenance')).toBe('none');
  });
});

describe('contentSha256', () => {
  it('ignores meta and key order, and sees any other change', () => {
    const a = contentSha256({ resourceType: 'Patient', id: 'p', active: true, meta: { versionId: '1' } } as Resource);
    const b = contentSha256({ active: true, id: 'p', resourceType: 'Patient', meta: { versionId: '9' } } as Resource);
    const c = contentSha256({ resourceType: 'Patient', id: 'p', active: false } as Resource);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });
});

describe('ownIdOf', () => {
  const OURS = 'urn:fhir-ai-server';
  it('recognises what this server pushed: our identifier, or our tag on types without one', () => {
    expect(ownIdOf({ resourceType: 'RiskAssessment', id: 'r', identifier: [{ system: 'x', value: 'y' }, { system: OURS, value: 'RiskAssessment/abc-1' }] } as Resource, OURS)).toBe('abc-1');
    expect(ownIdOf({ resourceType: 'Provenance', id: 'r', meta: { tag: [{ system: OURS, code: 'Provenance/p9' }] } } as Resource, OURS)).toBe('p9');
  });

  it('ignores other systems and identities of another type', () => {
    expect(ownIdOf({ resourceType: 'RiskAssessment', id: 'r', identifier: [{ system: 'urn:other', value: 'RiskAssessment/abc' }] } as Resource, OURS)).toBeUndefined();
    expect(ownIdOf({ resourceType: 'RiskAssessment', id: 'r', identifier: [{ system: OURS, value: 'Task/abc' }] } as Resource, OURS)).toBeUndefined();
    expect(ownIdOf({ resourceType: 'Patient', id: 'r' } as Resource, OURS)).toBeUndefined();
  });
});
