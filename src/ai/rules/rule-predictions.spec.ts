import { builtInRule } from './rule-catalog';
import { rulePredictionRecord } from './rule-predictions';
import { activeRuleOf } from './rule-registry.service';

describe('rulePredictionRecord', () => {
  const rule = activeRuleOf(builtInRule('billing-error-detection'));

  it('names the version, the task and the input version in the job id', () => {
    expect(rulePredictionRecord(rule, { input: { ref: 'Claim/c1', versionId: 3 }, patientId: 'p1', outputRef: 'Claim/c1', score: 2, label: 'flagged' })).toEqual({
      modelId: 'billing-error-rules-1.0.0',
      jobId: 'billing-error-detection/Claim/c1/_history/3',
      patientId: 'p1',
      task: 'billing-error-detection',
      inputRef: 'Claim/c1/_history/3',
      outputRef: 'Claim/c1',
      shadow: false,
      score: 2,
      label: 'flagged',
      outputs: null,
      latencyMs: null,
      inputs: null,
      error: null,
    });
  });

  it('tells evaluations of an unversioned input apart by their instant', () => {
    const r = rulePredictionRecord(activeRuleOf(builtInRule('occupancy-forecast')), { input: { ref: 'beds/forecast' }, at: '2026-11-27T04:00:00.000Z', patientId: null, outputRef: null, score: 3, label: null, outputs: { occupied: [3, 4] } });
    expect(r).toMatchObject({ modelId: 'holt-winters-additive-weekly-1.0.0', jobId: 'occupancy-forecast/beds/forecast/2026-11-27T04:00:00.000Z', inputRef: 'beds/forecast', outputs: { occupied: [3, 4] } });
  });
});
