import type { Device, Provenance, RiskAssessment, Task } from '@medplum/fhirtypes';
import { buildPushBundle, entryUrn } from './push-bundle';
import { ourSystem, pushIdentity, withIdentity } from './push-identity';

const SYS = 'urn:fhir-ai-server';
const device: Device & { id: string } = {
  resourceType: 'Device',
  id: 'cad-1.0.0',
  meta: { versionId: '3', lastUpdated: '2026-01-01T00:00:00Z' },
  identifier: [{ system: 'urn:fhir-ai-server:model-sha256', value: 'abc' }],
  status: 'active',
};
const ra: RiskAssessment & { id: string } = {
  resourceType: 'RiskAssessment',
  id: 'ra-1',
  meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00Z', source: 'urn:fhir-ai-server:ai-worker' },
  identifier: [{ system: 'urn:fhir-ai-server:ai-job', value: 'diagnosis-confidence/Condition/c1/_history/1' }],
  status: 'final',
  subject: { reference: 'Patient/p-local' },
  condition: { reference: 'Condition/c1', display: 'CAD' },
  performer: { reference: 'Device/cad-1.0.0' },
  basis: [{ reference: 'Condition/c1' }, { reference: 'Observation/o1/_history/2' }],
};
const prov: Provenance & { id: string } = {
  resourceType: 'Provenance',
  id: 'prov-1',
  meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00Z', tag: [{ system: 'urn:x', code: 'keep' }] },
  target: [{ reference: 'RiskAssessment/ra-1' }],
  recorded: '2026-01-01T00:00:00Z',
  agent: [{ who: { reference: 'Device/cad-1.0.0', display: 'cad 1.0.0' } }],
  entity: [{ role: 'source', what: { reference: 'Observation/o1' } }],
};
const task: Task & { id: string } = {
  resourceType: 'Task',
  id: 't-1',
  meta: { versionId: '2', lastUpdated: '2026-01-01T00:00:00Z' },
  status: 'accepted',
  intent: 'proposal',
  for: { reference: 'Patient/p-local' },
  focus: { reference: 'Condition/c1' },
  reasonReference: { reference: 'RiskAssessment/ra-1' },
  requester: { reference: 'Device/cad-1.0.0' },
  owner: { reference: 'Practitioner/dr-1' },
  note: [{ authorReference: { reference: 'Practitioner/dr-1' }, text: 'Approved' }],
  input: [{ type: { text: 'x' }, valueReference: { reference: '#contained-1' } }],
};
const remoteIds = new Map([['Patient/p-local', 'p-remote']]);

describe('buildPushBundle', () => {
  const bundle = buildPushBundle({ system: SYS, resources: [device, ra, prov, task], remoteIds });
  const byType = (type: string) => bundle.entry?.find((e) => e.resource?.resourceType === type);

  it('is a transaction on our identity, each entry with a urn:uuid fullUrl: conditional creates for first versions, conditional updates for later ones', () => {
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
    expect(bundle.entry?.map((e) => e.resource?.resourceType)).toEqual(['Device', 'RiskAssessment', 'Provenance', 'Task']);
    for (const e of bundle.entry ?? []) {
      expect(e.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(byType('RiskAssessment')?.request).toEqual({ method: 'POST', url: 'RiskAssessment', ifNoneExist: 'identifier=urn%3Afhir-ai-server|RiskAssessment%2Fra-1' });
    expect(byType('Provenance')?.request).toEqual({ method: 'POST', url: 'Provenance', ifNoneExist: '_tag=urn%3Afhir-ai-server|Provenance%2Fprov-1' });
    // The Task (version 2, the decision) and the Device (version 3) replace the remote copy, or create it.
    expect(byType('Task')?.request).toEqual({ method: 'PUT', url: 'Task?identifier=urn%3Afhir-ai-server|Task%2Ft-1' });
    expect(byType('Device')?.request).toEqual({ method: 'PUT', url: 'Device?identifier=urn%3Afhir-ai-server|Device%2Fcad-1.0.0' });
  });

  it('carries our identity: an identifier, or a tag for Provenance (which has no identifier), keeping what was there', () => {
    expect((byType('RiskAssessment')?.resource as RiskAssessment).identifier).toEqual([
      { system: 'urn:fhir-ai-server:ai-job', value: 'diagnosis-confidence/Condition/c1/_history/1' },
      { system: SYS, value: 'RiskAssessment/ra-1' },
    ]);
    expect((byType('Device')?.resource as Device).identifier).toContainEqual({ system: SYS, value: 'Device/cad-1.0.0' });
    expect(byType('Provenance')?.resource?.meta?.tag).toEqual([{ system: 'urn:x', code: 'keep' }, { system: SYS, code: 'Provenance/prov-1' }]);
    expect(byType('Provenance')?.resource).not.toHaveProperty('identifier');
  });

  it('leaves out our ids, versionId and lastUpdated, and says where the resource came from', () => {
    for (const e of bundle.entry ?? []) {
      expect(e.resource).not.toHaveProperty('id');
      expect(e.resource?.meta).not.toHaveProperty('versionId');
      expect(e.resource?.meta).not.toHaveProperty('lastUpdated');
    }
    expect(byType('RiskAssessment')?.resource?.meta?.source).toBe('urn:fhir-ai-server/RiskAssessment/ra-1');
  });

  it('points references at bundle entries by urn:uuid, at pulled resources by remote id, and at anything else by our identifier only', () => {
    const urn = (type: string) => byType(type)?.fullUrl;
    const r = byType('RiskAssessment')?.resource as RiskAssessment;
    expect(r.subject).toEqual({ reference: 'Patient/p-remote' });
    expect(r.performer).toEqual({ reference: urn('Device') });
    expect(r.condition).toEqual({ identifier: { system: SYS, value: 'Condition/c1' }, display: 'CAD' });
    expect(r.basis).toEqual([{ identifier: { system: SYS, value: 'Condition/c1' } }, { identifier: { system: SYS, value: 'Observation/o1' } }]);
    const p = byType('Provenance')?.resource as Provenance;
    expect(p.target).toEqual([{ reference: urn('RiskAssessment') }]);
    expect(p.agent[0].who).toEqual({ reference: urn('Device'), display: 'cad 1.0.0' });
    expect(p.entity?.[0].what).toEqual({ identifier: { system: SYS, value: 'Observation/o1' } });
    const t = byType('Task')?.resource as Task;
    expect(t.for).toEqual({ reference: 'Patient/p-remote' });
    expect(t.reasonReference).toEqual({ reference: urn('RiskAssessment') });
    expect(t.requester).toEqual({ reference: urn('Device') });
    expect(t.owner).toEqual({ identifier: { system: SYS, value: 'Practitioner/dr-1' } });
    expect(t.note?.[0].authorReference).toEqual({ identifier: { system: SYS, value: 'Practitioner/dr-1' } });
    expect(t.input?.[0].valueReference).toEqual({ reference: '#contained-1' });
    // No literal local reference is left anywhere.
    expect(JSON.stringify(bundle)).not.toMatch(/"reference":"(Patient\/p-local|Condition|Observation|Practitioner|Device|RiskAssessment)/);
  });

  it("names an entry in namedOnly by our identifier, except from a Provenance (a receiver may tie performer and requester to its own model registry)", () => {
    const b = buildPushBundle({ system: SYS, resources: [device, ra, prov, task], remoteIds, namedOnly: new Set(['Device/cad-1.0.0']) });
    const of = (type: string) => b.entry?.find((e) => e.resource?.resourceType === type);
    const logical = { identifier: { system: SYS, value: 'Device/cad-1.0.0' } };
    expect((of('RiskAssessment')?.resource as RiskAssessment).performer).toEqual(logical);
    expect((of('Task')?.resource as Task).requester).toEqual(logical);
    expect((of('Provenance')?.resource as Provenance).agent[0].who).toEqual({ reference: of('Device')?.fullUrl, display: 'cad 1.0.0' });
    expect((of('Task')?.resource as Task).reasonReference).toEqual({ reference: of('RiskAssessment')?.fullUrl });
  });

  it('names the same resource the same way every time, and sends each resource once', () => {
    const again = buildPushBundle({ system: SYS, resources: [device, ra, prov, ra, task], remoteIds });
    expect(again).toEqual(bundle);
    expect(entryUrn(SYS, 'Task', 't-1')).toBe(entryUrn(SYS, 'Task', 't-1'));
    expect(entryUrn(SYS, 'Task', 't-1')).not.toBe(entryUrn('https://other.example', 'Task', 't-1'));
  });

  it('does not change its input', () => {
    expect(ra.meta?.versionId).toBe('1');
    expect(ra.subject).toEqual({ reference: 'Patient/p-local' });
    expect(ra.identifier).toHaveLength(1);
  });
});

describe('push identity', () => {
  it('is the public base URL when configured, else urn:fhir-ai-server', () => {
    expect(ourSystem({ publicBaseUrl: 'https://ai.example.org' })).toBe('https://ai.example.org');
    expect(ourSystem({ publicBaseUrl: undefined })).toBe(SYS);
  });

  it('is added once', () => {
    const once = withIdentity(withIdentity(task, SYS, 't-1'), SYS, 't-1');
    expect(once.identifier).toEqual([{ system: SYS, value: 'Task/t-1' }]);
    expect(pushIdentity(SYS, 'Device', 'd').kind).toBe('identifier');
    expect(pushIdentity(SYS, 'Provenance', 'p').kind).toBe('tag');
  });
});
