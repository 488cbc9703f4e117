import type { Flag, Provenance, QuestionnaireResponse, RiskAssessment, Task } from '@medplum/fhirtypes';
import { provenanceOfEverything } from './outputs';

const ra: RiskAssessment = { resourceType: 'RiskAssessment', id: 'ra1', status: 'final', subject: { reference: 'Patient/p1' } };
const prov: Provenance = { resourceType: 'Provenance', id: 'pv1', target: [{ reference: 'RiskAssessment/ra1' }], recorded: '2024-06-01T00:00:00Z', agent: [{ who: { reference: 'Device/m-1' } }] };
const task: Task = { resourceType: 'Task', id: 'tk1', status: 'requested', intent: 'proposal' };
const flag: Flag = { resourceType: 'Flag', id: 'fl1', status: 'active', code: {}, subject: { reference: 'Patient/p1' } };
const trigger: QuestionnaireResponse = { resourceType: 'QuestionnaireResponse', id: 'qr1', status: 'completed' };

describe('provenanceOfEverything', () => {
  it('names the output, every other new resource and the write-back as the version it makes', () => {
    const out = provenanceOfEverything({ create: [ra, prov, task, flag], update: trigger }, 4);
    expect((out.create[1] as Provenance).target).toEqual([
      { reference: 'RiskAssessment/ra1' },
      { reference: 'Task/tk1' },
      { reference: 'Flag/fl1' },
      { reference: 'QuestionnaireResponse/qr1/_history/4' },
    ]);
    expect(out.create.map((r) => r.id)).toEqual(['ra1', 'pv1', 'tk1', 'fl1']);
    expect(out.update).toBe(trigger);
    expect(prov.target).toEqual([{ reference: 'RiskAssessment/ra1' }]); // the plugin's own output is left as it was
  });

  it('leaves outputs without exactly one Provenance alone', () => {
    const none = { create: [ra, task] };
    expect(provenanceOfEverything(none, 2)).toBe(none);
    const two = { create: [ra, prov, { ...prov, id: 'pv2' }] };
    expect(provenanceOfEverything(two, 2)).toBe(two);
  });
});
