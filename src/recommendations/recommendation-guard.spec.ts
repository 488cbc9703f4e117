import type { Task } from '@medplum/fhirtypes';
import { RECOMMENDATION_CODE } from '../ai/recommendation-rules';
import { recommendationWriteRefusal } from './recommendation-guard';

const ai = { kind: 'ai' } as const;
const other = { kind: 'other' } as const;
const rec = (over: Partial<Task> = {}): Task => ({
  resourceType: 'Task',
  id: 't1',
  meta: { versionId: '1', source: 'urn:fhir-ai-server:ai-worker', tag: [{ system: 'urn:fhir-ai-server:recommendation-rules', code: '1' }] },
  status: 'requested',
  intent: 'proposal',
  code: { coding: [RECOMMENDATION_CODE] },
  for: { reference: 'Patient/p1' },
  description: 'Review the diagnosis',
  ...over,
});

describe('recommendationWriteRefusal', () => {
  it('leaves other Tasks alone', () => {
    const plain: Task = { resourceType: 'Task', id: 't2', status: 'requested', intent: 'order' };
    expect(recommendationWriteRefusal(plain, { ...plain, status: 'accepted' }, other)).toBeUndefined();
    expect(recommendationWriteRefusal(plain, undefined, other)).toBeUndefined();
  });

  it('lets the AI raise and supersede, never decide or delete', () => {
    expect(recommendationWriteRefusal(undefined, rec(), ai)).toBeUndefined();
    expect(recommendationWriteRefusal(rec(), rec({ status: 'cancelled', statusReason: { text: 'Superseded' } }), ai)).toBeUndefined();
    expect(recommendationWriteRefusal(undefined, rec({ status: 'accepted' }), ai)).toMatch(/never accepted/);
    expect(recommendationWriteRefusal(rec(), rec({ status: 'accepted' }), ai)).toMatch(/never approves/);
    expect(recommendationWriteRefusal(rec({ status: 'accepted' }), rec({ status: 'cancelled' }), ai)).toMatch(/never approves/);
    expect(recommendationWriteRefusal(rec(), undefined, ai)).toMatch(/does not delete/);
  });

  it('lets a permitted decision move a requested recommendation to the permitted status only', () => {
    expect(recommendationWriteRefusal(rec(), rec({ status: 'accepted' }), { kind: 'decision', status: 'accepted' })).toBeUndefined();
    expect(recommendationWriteRefusal(rec(), rec({ status: 'rejected' }), { kind: 'decision', status: 'accepted' })).toMatch(/sets Task\/t1 accepted/);
    expect(recommendationWriteRefusal(rec({ status: 'rejected' }), rec({ status: 'accepted' }), { kind: 'decision', status: 'accepted' })).toMatch(/already decided/);
  });

  it('lets anyone else only add notes, naming the approval API otherwise', () => {
    const api = /\/api\/recommendations\/\{id\}\/approve/;
    expect(recommendationWriteRefusal(rec(), rec({ status: 'accepted', owner: { reference: 'Practitioner/d' } }), other)).toMatch(/Task\.owner, Task\.status cannot be changed/);
    for (const change of [{ status: 'rejected' }, { statusReason: { text: 'x' } }, { businessStatus: { text: 'x' } }, { description: 'x' }, { priority: 'stat' }] as Partial<Task>[]) {
      expect(recommendationWriteRefusal(rec(), rec(change), other)).toMatch(api);
    }
    expect(recommendationWriteRefusal(rec(), undefined, other)).toMatch(/cannot be deleted/);
    expect(recommendationWriteRefusal(rec(), rec({ code: { text: 'plain' } }), other)).toMatch(/recoded/);
    // Notes: added at the end, the AI's meta.source dropped by the write path, is fine.
    const noted = rec({ meta: { versionId: '2', tag: rec().meta?.tag }, note: [{ text: 'Discuss at rounds' }] });
    expect(recommendationWriteRefusal(rec(), noted, other)).toBeUndefined();
    expect(recommendationWriteRefusal(noted, rec({ note: [{ text: 'Replaced' }] }), other)).toMatch(/added to, not changed/);
    expect(recommendationWriteRefusal(rec(), rec({ note: [{ text: 'Approved by the clinician: fine' }] }), other)).toMatch(/decision's own/);
  });

  it('refuses a pending recommendation the AI did not raise; a decided copy may be recorded', () => {
    expect(recommendationWriteRefusal(undefined, rec(), other)).toMatch(/Only the AI raises/);
    expect(recommendationWriteRefusal({ resourceType: 'Task', id: 't1', status: 'requested', intent: 'order' }, rec({ status: 'accepted' }), other)).toMatch(/cannot be turned into/);
    // A decided one only as a copy from elsewhere, naming its origin.
    expect(recommendationWriteRefusal(undefined, rec({ status: 'accepted' }), other)).toMatch(/copy of a decision made elsewhere/);
    expect(recommendationWriteRefusal(undefined, rec({ status: 'accepted', meta: { source: 'https://ehr.example/fhir/Task/9' } }), other)).toBeUndefined();
  });

  it("leaves another system's recommendation recorded here (a copy naming its origin) to that system, pending or not", () => {
    const copy = (over = {}) => rec({ meta: { source: 'https://ehr.example/fhir/Task/9' }, ...over });
    expect(recommendationWriteRefusal(undefined, copy(), other)).toBeUndefined();
    expect(recommendationWriteRefusal(copy(), copy({ status: 'accepted', owner: { reference: 'Practitioner/x' } }), other)).toBeUndefined();
    expect(recommendationWriteRefusal(copy(), rec({ status: 'accepted' }), other)).toMatch(/keeps its origin/);
  });

  it('lets a decided recommendation or a copy be deleted, not a pending one', () => {
    expect(recommendationWriteRefusal(rec(), undefined, other)).toMatch(/pending AI recommendation and cannot be deleted: decide it first/);
    expect(recommendationWriteRefusal(rec({ status: 'rejected' }), undefined, other)).toBeUndefined();
    expect(recommendationWriteRefusal(rec({ meta: { source: 'https://ehr.example/fhir/Task/9' } }), undefined, other)).toBeUndefined();
  });
});
