import type { ConnectionRow, FailureRow } from '../connection.repository';
import type { SyncRunRow } from '../sync-runs.repository';
import { judgeCapabilities } from './capability-summary';
import { endpointOf } from './connection-endpoint';
import { connectionView, runView } from './connection-view';

const at = new Date('2026-11-27T04:00:00.000Z');

function row(over: Partial<ConnectionRow> = {}): ConnectionRow {
  return {
    id: 'c1',
    name: 'Hospital A',
    baseUrl: 'https://ehr.example.org/fhir',
    authType: 'client_credentials',
    tokenUrl: 'https://idp.example.org/token',
    clientId: 'ours',
    scope: null,
    resourceTypes: ['Patient'],
    syncIntervalSeconds: 300,
    status: 'active',
    lastCheckAt: null,
    lastCheckOk: null,
    lastCheck: null,
    lastSyncAt: null,
    lastSyncStatus: null,
    resourcesIn: 5,
    resourcesOut: 2,
    failures: 1,
    createdAt: at,
    updatedAt: at,
    ...over,
  };
}

const run: SyncRunRow = {
  id: 7,
  connectionId: 'c1',
  trigger: 'manual',
  status: 'succeeded',
  createdAt: at,
  startedAt: at,
  finishedAt: new Date('2026-11-27T04:01:00.000Z'),
  resourcesIn: 4,
  unchanged: 1,
  failed: 0,
  deleted: 2,
  error: null,
};

const failure: FailureRow = {
  id: 3,
  direction: 'check',
  at,
  runId: null,
  pushId: null,
  resource: 'metadata',
  outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'token request answered 401' }] },
};

describe('connectionView', () => {
  it('shows the connection, its latest run, counts, failures and dead letters', () => {
    const older: SyncRunRow = { ...run, id: 6, status: 'failed', error: 'boom' };
    const v = connectionView(row({ lastCheckAt: at, lastCheckOk: false, lastCheck: { outcome: failure.outcome } }), { runs: [run, older], failures: [failure], deadLetters: 2 });
    expect(v).toEqual({
      id: 'c1',
      name: 'Hospital A',
      baseUrl: 'https://ehr.example.org/fhir',
      endpoint: 'Endpoint/c1',
      status: 'active',
      auth: { type: 'client_credentials', tokenUrl: 'https://idp.example.org/token', clientId: 'ours', scope: null, secretStored: true },
      resourceTypes: ['Patient'],
      syncIntervalSeconds: 300,
      lastCheck: { at: '2026-11-27T04:00:00.000Z', ok: false, outcome: failure.outcome },
      lastSync: runView(run),
      counts: { resourcesIn: 5, resourcesOut: 2, failures: 1 },
      deadLetters: 2,
      recentFailures: [{ id: 3, direction: 'check', at: '2026-11-27T04:00:00.000Z', runId: null, pushId: null, resource: 'metadata', outcome: failure.outcome }],
      recentRuns: [runView(run), runView(older)],
      created: '2026-11-27T04:00:00.000Z',
      updated: '2026-11-27T04:00:00.000Z',
    });
  });

  it('says whether a secret is stored, by auth type, and has no last check or sync before the first', () => {
    expect(connectionView(row({ authType: 'none', tokenUrl: null, clientId: null }), { runs: [], failures: [], deadLetters: 0 })).toMatchObject({
      auth: { type: 'none', secretStored: false },
      lastCheck: null,
      lastSync: null,
    });
    expect(connectionView(row({ authType: 'bearer', tokenUrl: null, clientId: null }), { runs: [], failures: [], deadLetters: 0 }).auth).toEqual({ type: 'bearer', secretStored: true });
  });

  it('shows a run with its times and counts', () => {
    expect(runView({ ...run, status: 'queued', startedAt: null, finishedAt: null })).toEqual({
      id: 7,
      connection: 'c1',
      status: 'queued',
      trigger: 'manual',
      requested: '2026-11-27T04:00:00.000Z',
      started: null,
      finished: null,
      resourcesIn: 4,
      unchanged: 1,
      failed: 0,
      deleted: 2,
      error: null,
    });
  });
});

describe('endpointOf', () => {
  it('is an active hl7-fhir-rest Endpoint at the base URL, and off when the connection is', () => {
    const e = endpointOf({ id: 'c1', name: 'Hospital A', baseUrl: 'https://ehr.example.org/fhir', status: 'active' });
    expect(e).toMatchObject({
      resourceType: 'Endpoint',
      id: 'c1',
      status: 'active',
      connectionType: { system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type', code: 'hl7-fhir-rest' },
      name: 'Hospital A',
      address: 'https://ehr.example.org/fhir',
      payloadMimeType: ['application/fhir+json'],
    });
    expect(e.payloadType).toHaveLength(1);
    expect(endpointOf({ id: 'c1', name: 'A', baseUrl: 'https://x', status: 'off' }).status).toBe('off');
  });

  it('keeps what an administrator added to the Endpoint, but not its meta or narrative', () => {
    const previous = {
      resourceType: 'Endpoint' as const,
      id: 'c1',
      meta: { versionId: '2' },
      text: { status: 'generated' as const, div: '<div xmlns="http://www.w3.org/1999/xhtml">old</div>' },
      status: 'active' as const,
      name: 'old',
      address: 'https://old',
      connectionType: { code: 'x' },
      payloadType: [],
      contact: [{ system: 'email' as const, value: 'it@example.org' }],
    };
    const e = endpointOf({ id: 'c1', name: 'New', baseUrl: 'https://new', status: 'off' }, previous);
    expect(e).toMatchObject({ name: 'New', address: 'https://new', status: 'off', contact: [{ system: 'email', value: 'it@example.org' }] });
    expect(e.meta).toBeUndefined();
    expect(e.text).toBeUndefined();
  });
});

describe('judgeCapabilities', () => {
  const cs = {
    resourceType: 'CapabilityStatement',
    fhirVersion: '4.0.1',
    software: { name: 'Remote EHR', version: '2.1' },
    rest: [
      {
        mode: 'server',
        operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' }],
        resource: [
          { type: 'Patient', interaction: [{ code: 'read' }, { code: 'search-type' }], operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' }] },
          { type: 'Observation', interaction: [{ code: 'search-type' }] },
          { type: 'Binary', interaction: [{ code: 'read' }] },
        ],
      },
      { mode: 'client', resource: [{ type: 'Device', interaction: [{ code: 'search-type' }] }] },
    ],
  };

  it('summarises an R4 server: version, software, searchable types, $export', () => {
    expect(judgeCapabilities(cs)).toEqual({
      ok: true,
      summary: { fhirVersion: '4.0.1', software: { name: 'Remote EHR', version: '2.1' }, searchTypes: ['Observation', 'Patient'], export: true, exportLevels: ['system', 'Patient'] },
    });
    const noExport = judgeCapabilities({ ...cs, rest: [{ mode: 'server', resource: [{ type: 'Patient', interaction: [{ code: 'search-type' }] }] }] });
    expect(noExport).toMatchObject({ ok: true, summary: { export: false, exportLevels: [] } });
  });

  it('refuses a server that is not R4, and an answer that is not a CapabilityStatement', () => {
    const r5 = judgeCapabilities({ ...cs, fhirVersion: '5.0.0' });
    expect(r5.ok).toBe(false);
    expect(r5.ok === false && r5.outcome.issue[0].diagnostics).toMatch(/FHIR 5\.0\.0, not FHIR R4/);
    expect(r5.ok === false && r5.summary?.fhirVersion).toBe('5.0.0');
    expect(judgeCapabilities({ ...cs, fhirVersion: undefined }).ok).toBe(false);
    expect(judgeCapabilities({ ...cs, fhirVersion: '4.0' }).ok).toBe(true);
    const notCs = judgeCapabilities({ resourceType: 'Patient' });
    expect(notCs.ok === false && notCs.outcome.issue[0].diagnostics).toMatch(/not a CapabilityStatement \(got Patient\)/);
    expect(judgeCapabilities('<html>').ok).toBe(false);
  });
});
