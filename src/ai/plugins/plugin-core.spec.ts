import { createLogger } from '../../core/logger';
import { STRESS_INTERVENTION_PLUGIN } from '../../hospital/wellness/stress-intervention.plugin';
import type { InferenceService } from '../inference.service';
import type { ModelRegistry } from '../model-registry.service';
import type { PredictionRepository } from '../model-stats/prediction.repository';
import { builtInRule } from '../rules/rule-catalog';
import { activeRuleOf, type ActiveRule, type RuleRegistry } from '../rules/rule-registry.service';
import { PluginCatalogue } from './catalogue';
import { PluginCore } from './plugin-core';

// run() is given its versions, so it asks no registry and writes nothing: the catalogue, the
// registries, the runtime and the repository are not reached (versions() and save() use them).
const core = new PluginCore(
  new PluginCatalogue(),
  undefined as unknown as ModelRegistry,
  undefined as unknown as RuleRegistry,
  undefined as unknown as InferenceService,
  undefined as unknown as PredictionRepository,
  createLogger('silent', 'plugin-core-spec'),
);

const v1: ActiveRule = { ...activeRuleOf(builtInRule('stress-intervention')), registered: true };
const lower: ActiveRule = {
  ...activeRuleOf({ ...v1.definition, version: '1.1.0', parameters: { ...v1.definition.parameters, highStress: 0.5 } }),
  registered: true,
};
const observation = {
  resourceType: 'Observation' as const,
  id: 'o1',
  status: 'final' as const,
  code: { coding: [{ system: 'http://loinc.org', code: '106860-0' }] },
  subject: { reference: 'Patient/p1' },
  valueInteger: 24,
};
const place = { input: { ref: 'Observation/o1', versionId: 2 }, patientId: 'p1', outputRef: 'Observation/o1' };

describe('PluginCore.run for a rule plugin', () => {
  it('runs the active version and each shadow on the same input; records both under one job id, the output only for the active one', async () => {
    const run = await core.run(STRESS_INTERVENTION_PLUGIN, { active: v1, shadows: [lower] }, { observation, earlier: [] }, place);
    expect(run.version).toBe(v1);
    expect(run.result).toEqual({ suggested: false });
    expect(run.output.extension?.[0].extension?.[0]).toEqual({ url: 'suggested', valueBoolean: false });
    expect(run.latencyMs).toBeNull();
    const common = { jobId: 'stress-intervention/Observation/o1/_history/2', patientId: 'p1', task: 'stress-intervention', inputRef: 'Observation/o1/_history/2', score: 0.6, outputs: null, latencyMs: null, inputs: null, error: null };
    expect(run.records).toEqual([
      { ...common, modelId: 'stress-intervention-1.0.0', outputRef: 'Observation/o1', shadow: false, label: 'not-suggested' },
      { ...common, modelId: 'stress-intervention-1.1.0', outputRef: null, shadow: true, label: 'suggested' },
    ]);
  });

  it('records a failing shadow with its error and goes on; counts nothing for the built-in fallback that has no registry row', async () => {
    const broken: ActiveRule = { ...lower, id: 'broken-1.0.0', definition: { ...lower.definition, parameters: { highStress: 'not a number' as never } } };
    const failing = { ...STRESS_INTERVENTION_PLUGIN, engine: { ...STRESS_INTERVENTION_PLUGIN.engine, evaluate: (rule: typeof v1.definition, p: { score: number | undefined; previous: readonly number[] }) => {
      if (rule.parameters.highStress === 'not a number') throw new Error('bad parameter');
      return STRESS_INTERVENTION_PLUGIN.engine.evaluate(rule, p);
    } } };
    const run = await core.run(failing, { active: { ...v1, registered: false }, shadows: [broken] }, { observation, earlier: [] }, place);
    expect(run.result).toEqual({ suggested: false });
    expect(run.records).toEqual([expect.objectContaining({ modelId: 'broken-1.0.0', shadow: true, outputRef: null, score: null, label: null, error: 'bad parameter' })]);
  });
});
