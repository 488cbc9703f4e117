import type { Encounter, Observation } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../operation-outcome';
import { shapeForRead, shapeResource } from './result-shape';

const encounter = {
  resourceType: 'Encounter',
  id: 'e1',
  status: 'finished',
  _status: { extension: [{ url: 'urn:x', valueString: 'note' }] },
  statusHistory: [{ status: 'arrived', period: { start: '2026-01-01' } }],
  class: { code: 'EMER' },
  classHistory: [{ class: { code: 'AMB' }, period: { start: '2026-01-01' } }],
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
} as unknown as Encounter;

const observation: Observation = {
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { text: 'pulse' },
  valueQuantity: { value: 80 },
  note: [{ text: 'not in the summary' }],
};

const keys = (r: object) => Object.keys(r).sort();
const SUBSETTED = expect.objectContaining({ code: 'SUBSETTED' });

describe('shapeResource', () => {
  it('_summary=true keeps the summary elements, a choice element in its typed form, and a primitive with its extensions; not elements whose names only begin alike', () => {
    // status and class are summary elements; statusHistory and classHistory are not.
    expect(keys(shapeResource(encounter, 'true', undefined))).toEqual(['_status', 'class', 'id', 'meta', 'resourceType', 'status']);
    expect(keys(shapeResource(observation, 'true', undefined))).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
    expect(shapeResource(observation, 'true', undefined).meta?.tag).toEqual([SUBSETTED]);
  });

  it('_elements names elements the same way (value names valueQuantity, status does not name statusHistory), and keeps the mandatory ones', () => {
    // Encounter.status and class, Observation.status and code are 1..1: returned whether asked or not (search.html#elements).
    expect(keys(shapeResource(encounter, undefined, ['status']))).toEqual(['_status', 'class', 'id', 'meta', 'resourceType', 'status']);
    expect(keys(shapeResource(observation, undefined, ['value']))).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
    expect(keys(shapeResource(observation, undefined, ['value[x]', 'note']))).toEqual(['code', 'id', 'meta', 'note', 'resourceType', 'status', 'valueQuantity']);
  });

  it('_summary=text keeps text and the mandatory elements; data drops only text; none leaves the resource as it is', () => {
    expect(keys(shapeResource(encounter, 'text', undefined))).toEqual(['_status', 'class', 'id', 'meta', 'resourceType', 'status', 'text']);
    expect(keys(shapeResource(encounter, 'data', undefined))).toEqual(keys({ ...encounter, meta: {} }).filter((k) => k !== 'text'));
    expect(shapeResource(encounter, undefined, undefined)).toBe(encounter);
  });

  it('shapeForRead: the stored JSON untouched without _summary/_elements (or with _summary=false), shaped with them, 400 for count and malformed values', () => {
    const json = JSON.stringify(encounter);
    expect(shapeForRead(json, [])).toBe(json);
    expect(shapeForRead(json, [['_format', 'json']])).toBe(json);
    expect(shapeForRead(json, [['_summary', 'false']])).toBe(json);
    expect(keys(JSON.parse(shapeForRead(json, [['_summary', 'true']])))).toEqual(['_status', 'class', 'id', 'meta', 'resourceType', 'status']);
    expect(keys(JSON.parse(shapeForRead(json, [['_elements', 'class']])))).toEqual(['_status', 'class', 'id', 'meta', 'resourceType', 'status']);
    for (const bad of [[['_summary', 'count']], [['_summary', 'yes']], [['_elements', 'a b']], [['_summary', 'true'], ['_summary', 'data']]] as Array<Array<[string, string]>>) {
      expect(() => shapeForRead(json, bad)).toThrow(OperationOutcomeError);
    }
  });
});
