import { containedReferenceProblems } from './contained-references';

const paths = (r: { resourceType: string; [k: string]: unknown }) => containedReferenceProblems(r, r.resourceType).map((i) => i.expression?.[0]);
const obs = (more: object) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...more });
const practitioner = (id?: string) => ({ resourceType: 'Practitioner', ...(id ? { id } : {}), name: [{ family: 'X' }] });

describe('containedReferenceProblems', () => {
  it('accepts contained resources referred to by a reference, a canonical, a narrative link, or referring to their container', () => {
    expect(paths(obs({ contained: [practitioner('pr')], performer: [{ reference: '#pr' }] }))).toEqual([]);
    expect(paths(obs({ contained: [{ resourceType: 'ValueSet', id: 'vs', status: 'draft' }], extension: [{ url: 'http://example.org/vs', valueCanonical: '#vs' }] }))).toEqual([]);
    // one contained resource referred to by another that the container refers to
    expect(paths(obs({ contained: [{ resourceType: 'PractitionerRole', id: 'r', practitioner: { reference: '#pr' } }, practitioner('pr')], performer: [{ reference: '#r' }] }))).toEqual([]);
    expect(paths(obs({ contained: [{ resourceType: 'Patient', id: 'p', link: [{ other: { reference: '#' }, type: 'seealso' }] }] }))).toEqual([]);
    const div = '<div xmlns="http://www.w3.org/1999/xhtml"><img src="#img" alt="x"/></div>';
    expect(paths({ resourceType: 'Composition', contained: [{ resourceType: 'Binary', id: 'img', contentType: 'image/png' }], section: [{ text: { status: 'additional', div } }] })).toEqual([]);
  });

  it('refuses a contained resource nothing refers to, or without id (dom-3), naming it', () => {
    expect(paths(obs({ contained: [practitioner('pr')] }))).toEqual(['Observation.contained[0]']);
    expect(paths(obs({ contained: [practitioner()], performer: [{ reference: '#pr' }] }))).toEqual(['Observation.performer[0]', 'Observation.contained[0]']);
    // of two, the one nothing refers to
    expect(paths(obs({ contained: [practitioner('pr'), practitioner('b')], performer: [{ reference: '#b' }] }))).toEqual(['Observation.contained[0]']);
  });

  it('refuses a local reference that names no contained resource (ref-1), and duplicate contained ids', () => {
    expect(paths(obs({ performer: [{ reference: '#nope' }] }))).toEqual(['Observation.performer[0]']);
    expect(paths(obs({ contained: [practitioner('pr'), practitioner('pr')], performer: [{ reference: '#pr' }] }))).toEqual(['Observation.contained[1].id']);
  });

  it('gives each resource of a Bundle or Parameters its own contained resources', () => {
    const entry = (resource: object) => ({ fullUrl: 'urn:uuid:0b4f8b1e-8a4e-4d7e-9f43-2a3c1e5d6f70', resource });
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [entry(obs({ contained: [practitioner('pr')], performer: [{ reference: '#pr' }] })), entry(obs({ performer: [{ reference: '#pr' }] }))] };
    expect(paths(bundle)).toEqual(['Bundle.entry[1].resource.performer[0]']);
    const params = { resourceType: 'Parameters', parameter: [{ name: 'r', resource: obs({ contained: [practitioner('x')] }) }] };
    expect(paths(params)).toEqual(['Parameters.parameter[0].resource.contained[0]']);
  });
});
