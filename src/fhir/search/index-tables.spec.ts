import { APART_TABLES, indexTable, referenceRows } from './index-tables';

describe('index tables', () => {
  it("reads a kept-apart type's rows from its own tables and views, every other type's from the shared tables", () => {
    expect(indexTable('AuditEvent', 'reference')).toBe('search_reference_audit');
    expect(indexTable('AuditEvent', 'date')).toBe('search_date_audit');
    expect(indexTable('AuditEvent', 'token')).toBe('search_token_packed');
    expect(indexTable('AuditEvent', 'string')).toBe('search_string_packed');
    expect(indexTable('AuditEvent', 'uri')).toBe('search_uri');
    expect(indexTable('Observation', 'reference')).toBe('search_reference');
    expect(indexTable('Observation', 'date')).toBe('search_date');
    expect(indexTable('Observation', 'token')).toBe('search_token');
    expect(() => indexTable('Observation', 'special')).toThrow('no search index table for special parameters');
    expect(APART_TABLES).toEqual(['search_packed', 'search_reference_audit', 'search_date_audit']);
  });

  it('gives the reference rows of a set of types from the tables that can hold them', () => {
    expect(referenceRows(['Observation', 'Encounter'])).toBe('search_reference');
    expect(referenceRows(['AuditEvent'])).toBe('search_reference_audit');
    expect(referenceRows(['AuditEvent', 'Patient'])).toBe('(SELECT * FROM search_reference UNION ALL SELECT * FROM search_reference_audit)');
    // Every type: both, unless the kept-apart types are hidden.
    expect(referenceRows(undefined)).toContain('UNION ALL');
    expect(referenceRows(undefined, ['AuditEvent', 'Subscription'])).toBe('search_reference');
  });
});
