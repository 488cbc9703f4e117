import type { Bundle, CapabilityStatement } from '@medplum/fhirtypes';
import { historyEntryId, isDeletion, offersTypeHistory, readHistoryPage, type RemoteHistory } from './remote-deletions';

describe('remote deletions', () => {
  it('offersTypeHistory: only a server that lists history-type for that type', () => {
    const cs = (interactions: string[], mode = 'server') =>
      ({ resourceType: 'CapabilityStatement', rest: [{ mode, resource: [{ type: 'Observation', interaction: interactions.map((code) => ({ code })) }] }] }) as CapabilityStatement;
    expect(offersTypeHistory(cs(['search-type', 'history-type']), 'Observation')).toBe(true);
    expect(offersTypeHistory(cs(['search-type', 'history-instance']), 'Observation')).toBe(false);
    expect(offersTypeHistory(cs(['history-type']), 'Patient')).toBe(false);
    expect(offersTypeHistory(cs(['history-type'], 'client'), 'Observation')).toBe(false);
    expect(offersTypeHistory(undefined, 'Observation')).toBe(false);
  });

  it('historyEntryId: from the resource, else the request URL or fullUrl of that type', () => {
    expect(historyEntryId({ resource: { resourceType: 'Observation', id: 'a' } as never }, 'Observation')).toBe('a');
    expect(historyEntryId({ request: { method: 'DELETE', url: 'Observation/b' } }, 'Observation')).toBe('b');
    expect(historyEntryId({ request: { method: 'DELETE', url: 'Observation/b/_history/3' } }, 'Observation')).toBe('b');
    expect(historyEntryId({ fullUrl: 'https://ehr.example/fhir/Observation/c', request: { method: 'POST', url: 'Observation' } }, 'Observation')).toBe('c');
    expect(historyEntryId({ request: { method: 'DELETE', url: 'Patient/b' } }, 'Observation')).toBeUndefined();
    expect(historyEntryId({ request: { method: 'DELETE', url: 'Observation/../x' } }, 'Observation')).toBeUndefined();
  });

  it('isDeletion: a DELETE, or a 410 with no request and no content', () => {
    expect(isDeletion({ request: { method: 'DELETE', url: 'Observation/a' }, response: { status: '204' } })).toBe(true);
    expect(isDeletion({ request: { method: 'PUT', url: 'Observation/a' }, response: { status: '200' } })).toBe(false);
    expect(isDeletion({ response: { status: '410 Gone' } })).toBe(true);
    expect(isDeletion({ response: { status: '200' }, resource: { resourceType: 'Observation' } as never })).toBe(false);
  });

  it('readHistoryPage: the newest entry of each id decides (pages newest first); the latest change time is returned', () => {
    const newest: RemoteHistory = new Map();
    const page1: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      entry: [
        { request: { method: 'PUT', url: 'Observation/re' }, response: { status: '200', lastModified: '2026-01-03T00:00:00Z' }, resource: { resourceType: 'Observation', id: 're' } as never },
        { request: { method: 'DELETE', url: 'Observation/gone' }, response: { status: '204', lastModified: '2026-01-02T00:00:00Z' } },
      ],
    };
    const page2: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      entry: [
        { request: { method: 'DELETE', url: 'Observation/re' }, response: { status: '204', lastModified: '2026-01-01T12:00:00Z' } },
        { request: { method: 'POST', url: 'Observation' }, fullUrl: 'Observation/gone', response: { status: '201', lastModified: '2026-01-01T00:00:00Z' }, resource: { resourceType: 'Observation', id: 'gone' } as never },
      ],
    };
    expect(readHistoryPage(page1, 'Observation', newest)?.toISOString()).toBe('2026-01-03T00:00:00.000Z');
    expect(readHistoryPage(page2, 'Observation', newest)?.toISOString()).toBe('2026-01-01T12:00:00.000Z');
    expect(Object.fromEntries([...newest].map(([id, h]) => [id, h.deleted]))).toEqual({ re: false, gone: true });
    expect(readHistoryPage({ resourceType: 'Bundle', type: 'history' }, 'Observation', newest)).toBeUndefined();
  });

  it('readHistoryPage: a remote listing history oldest first still gets each id\'s newest entry, by time, else by version', () => {
    const newest: RemoteHistory = new Map();
    readHistoryPage(
      {
        resourceType: 'Bundle',
        type: 'history',
        entry: [
          { request: { method: 'POST', url: 'Observation' }, fullUrl: 'Observation/a', response: { status: '201', lastModified: '2026-01-01T00:00:00Z', etag: 'W/"1"' } },
          { request: { method: 'DELETE', url: 'Observation/a' }, response: { status: '204', lastModified: '2026-01-02T00:00:00Z', etag: 'W/"2"' } },
          // No times: the higher version wins.
          { request: { method: 'DELETE', url: 'Observation/b/_history/2' }, response: { status: '204' } },
          { request: { method: 'PUT', url: 'Observation/b/_history/3' }, response: { status: '200' } },
        ],
      },
      'Observation',
      newest,
    );
    expect(Object.fromEntries([...newest].map(([id, h]) => [id, h.deleted]))).toEqual({ a: true, b: false });
  });
});
