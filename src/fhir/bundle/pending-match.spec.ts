import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { extractTokenRows } from '../search/index-extractor';
import { TransactionView, matchesInMemory, type TokenMatcher } from './pending-match';

beforeAll(() => loadFhirDefinitions());

/** The search index's token rows compared as the writer compares them (clear text). */
const matchesToken: TokenMatcher = (resource, code, system, value) => extractTokenRows(resource, code).some((r) => r.system === system && r.value === value);
const patient = (id: string, value: string): Resource => ({ resourceType: 'Patient', id, identifier: [{ system: 'http://s', value }], gender: 'female' });

describe('matchesInMemory', () => {
  it('decides _id and token system|value criteria, each parameter AND, each list OR', () => {
    const p = patient('p1', 'A');
    expect(matchesInMemory('Patient', 'identifier=http://s|A', 'p1', p, matchesToken)).toBe(true);
    expect(matchesInMemory('Patient', 'identifier=http://s|B', 'p1', p, matchesToken)).toBe(false);
    expect(matchesInMemory('Patient', 'identifier=http://s|B,http://s|A', 'p1', p, matchesToken)).toBe(true);
    expect(matchesInMemory('Patient', '_id=p1&identifier=http://s|A', 'p1', p, matchesToken)).toBe(true);
    expect(matchesInMemory('Patient', '_id=p2&identifier=http://s|A', 'p1', p, matchesToken)).toBe(false);
  });

  it('leaves other forms open, unless another parameter is false', () => {
    const p = patient('p1', 'A');
    expect(matchesInMemory('Patient', 'name=smith', 'p1', p, matchesToken)).toBeUndefined();
    expect(matchesInMemory('Patient', 'identifier=A', 'p1', p, matchesToken)).toBeUndefined();
    expect(matchesInMemory('Patient', 'name=smith&identifier=http://s|B', 'p1', p, matchesToken)).toBe(false);
  });
});

describe('TransactionView', () => {
  it('drops what the transaction deletes and adds what it writes that matches', () => {
    const view = new TransactionView(matchesToken);
    view.delete('Patient', 'old');
    view.write({ resourceType: 'Patient', id: 'new', resource: patient('new', 'A') });
    expect(view.matches('Patient', 'identifier=http://s|A', ['old'])).toEqual(['new']);
    expect(view.matches('Patient', 'identifier=http://s|B', ['old', 'other'])).toEqual(['other']);
  });

  it('an entry written with its own criteria matches them, however they are spelt', () => {
    const view = new TransactionView(matchesToken);
    view.write({ resourceType: 'Patient', id: 'n', resource: patient('n', 'Z'), criteria: 'Patient?gender=female&name=x' });
    expect(view.matches('Patient', 'name=x&gender=female', [])).toEqual(['n']);
  });

  it('an update that no longer matches replaces the stored match; an undecidable one keeps the stored answer', () => {
    const view = new TransactionView(matchesToken);
    view.write({ resourceType: 'Patient', id: 'u', resource: patient('u', 'B') });
    expect(view.matches('Patient', 'identifier=http://s|A', ['u'])).toEqual([]);
    expect(view.matches('Patient', 'name=smith', ['u'])).toEqual(['u']);
    expect(view.matches('Observation', 'identifier=http://s|B', [])).toEqual([]);
  });
});

describe('TransactionView with row matching', () => {
  const rows = (settled: boolean) => ({ base: 'http://srv.example/fhir', settled: () => settled });

  it('decides string, date and bare token criteria against what the transaction writes', () => {
    const view = new TransactionView(matchesToken, rows(true));
    view.write({ resourceType: 'Patient', id: 'n', resource: { ...patient('n', 'A'), name: [{ family: 'Smith' }], birthDate: '1980-01-02' } as Resource });
    expect(view.matches('Patient', 'name=smi&birthdate=1980', [])).toEqual(['n']);
    expect(view.matches('Patient', 'identifier=A', [])).toEqual(['n']);
    expect(view.matches('Patient', 'name=jones', ['n'])).toEqual([]);
  });

  it('leaves reference criteria open while the resource holds references the transaction still rewrites', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:1' } } as Resource;
    const unsettled = new TransactionView(matchesToken, rows(false));
    unsettled.write({ resourceType: 'Observation', id: 'o', resource: obs });
    expect(unsettled.matches('Observation', 'subject=Patient/p9', ['o'])).toEqual(['o']);
    const settled = new TransactionView(matchesToken, rows(true));
    settled.write({ resourceType: 'Observation', id: 'o', resource: { ...obs, subject: { reference: 'Patient/p1' } } as Resource });
    expect(settled.matches('Observation', 'subject=Patient/p9', ['o'])).toEqual([]);
    expect(settled.matches('Observation', 'subject=Patient/p1', [])).toEqual(['o']);
  });
});
