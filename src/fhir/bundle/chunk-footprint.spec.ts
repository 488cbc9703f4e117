import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import type { ParsedEntry } from './bundle-request';
import { chunkFootprint, chunksConflict } from './chunk-footprint';

beforeAll(() => loadFhirDefinitions());

const SYS = 'urn:test';
let n = 0;
function create(resource: Resource, ifNoneExist?: string): [ParsedEntry, Resource] {
  const e = { index: n++, method: 'POST', resourceType: resource.resourceType, resource, ifNoneExist } as unknown as ParsedEntry;
  return [e, { ...resource, id: `id-${n}` } as Resource];
}
const org = (value: string, ifNoneExist = true) => create({ resourceType: 'Organization', identifier: [{ system: SYS, value }] }, ifNoneExist ? `identifier=${SYS}|${value}` : undefined);
const footprintOf = (pairs: Array<[ParsedEntry, Resource]>, isolated: (t: string) => boolean = () => true) => chunkFootprint(pairs.map(([e]) => e), new Map(pairs), isolated);
// What SearchIndexWriter.tokenKeys gives for these resources: their identifiers.
const tokenKeys = (r: Resource) => new Set(((r as { identifier?: Array<{ system: string; value: string }> }).identifier ?? []).map((i) => `${i.system}|${i.value}`));
const key = (s: string, v: string) => `${s}|${v}`;
const conflict = (a: ReturnType<typeof footprintOf>, b: ReturnType<typeof footprintOf>) => chunksConflict(a!, b!, tokenKeys, key);

describe('chunkFootprint', () => {
  it('has none for anything but plain creates of isolated types', () => {
    expect(footprintOf([org('a')])).toBeDefined();
    const [put] = org('b');
    expect(chunkFootprint([{ ...put, method: 'PUT' } as ParsedEntry], new Map([[{ ...put, method: 'PUT' } as ParsedEntry, put.resource as Resource]]), () => true)).toBeUndefined();
    expect(footprintOf([create({ resourceType: 'Location', managingOrganization: { reference: `Organization?identifier=${SYS}|a` } })])).toBeUndefined();
    expect(footprintOf([org('c')], () => false)).toBeUndefined();
  });
});

describe('chunksConflict', () => {
  it('lets chunks with different identifiers run side by side', () => {
    expect(conflict(footprintOf([org('a'), org('b')]), footprintOf([org('c'), org('d')]))).toBe(false);
  });

  it('keeps in order chunks that share an ifNoneExist lock', () => {
    expect(conflict(footprintOf([org('a')]), footprintOf([org('a')]))).toBe(true);
  });

  it("keeps in order a chunk whose criteria would find what the other creates, either way round", () => {
    const plain = footprintOf([org('x', false)]);
    const looking = footprintOf([org('x')]);
    expect(conflict(plain, looking)).toBe(true);
    expect(conflict(looking, plain)).toBe(true);
  });

  it('assumes that criteria other than system|value could find any resource of their type', () => {
    const byName = footprintOf([create({ resourceType: 'Organization', name: 'N' }, 'name=N')]);
    expect(conflict(byName, footprintOf([org('z', false)]))).toBe(true);
    expect(conflict(byName, footprintOf([create({ resourceType: 'Location', name: 'L' })]))).toBe(false);
  });
});
