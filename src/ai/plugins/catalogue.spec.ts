import { HOSPITAL_PLUGINS } from '../../hospital/hospital-plugins';
import type { ResourceStore } from '../../fhir/store/resource-store.repository';
import type { DatabaseService } from '../../database/database.service';
import type { AnyAiPlugin } from '../ai-plugin';
import { loadBuiltInModels } from '../model-manifest';
import type { ModelRegistry } from '../model-registry.service';
import { RULE_DEFINITIONS, RULE_TASKS } from '../rules/rule-catalog';
import { KNOWN_TASKS } from '../task-contracts';
import { PLUGIN_TASKS, PluginCatalogue } from './catalogue';
import { modelPlugins } from './model-plugins';
import type { InferenceService } from '../inference.service';

// The catalogue as a worker fills it (AiModule adds the model plugins, HospitalModule the rule plugins).
// Listing and describing plugins calls neither their registry nor the store.
function workerCatalogue(): PluginCatalogue {
  const catalogue = new PluginCatalogue();
  catalogue.add(...modelPlugins(undefined as unknown as ModelRegistry, undefined as unknown as ResourceStore, undefined as unknown as DatabaseService, undefined as unknown as InferenceService));
  catalogue.add(...HOSPITAL_PLUGINS);
  return catalogue;
}

/** What start-up seeds in ai_models: the built-in model files (models/) and the built-in rule versions. */
const seededTasks = new Set<string>([...loadBuiltInModels().map((m) => m.manifest.task), ...RULE_DEFINITIONS.filter((d) => d.builtIn).map((d) => d.task)]);

describe('the plugin catalogue', () => {
  const catalogue = workerCatalogue();

  it('holds nine plugins, one per task ai_models can hold a version of', () => {
    expect(catalogue.all()).toHaveLength(9);
    expect(catalogue.all().map((p) => p.task).sort()).toEqual([...PLUGIN_TASKS].sort());
    expect(catalogue.missing(PLUGIN_TASKS)).toEqual([]);
    expect(() => catalogue.check(PLUGIN_TASKS, 'worker')).not.toThrow();
  });

  it.each(PLUGIN_TASKS.map((t) => [t]))('%s is an AiPlugin of the one interface, with a version seeded in the registry', (task) => {
    const plugin = catalogue.get(task) as AnyAiPlugin;
    expect(plugin).toBeDefined();
    expect(seededTasks.has(plugin.task)).toBe(true);
    expect(['queued', 'in-write', 'on-request']).toContain(plugin.runs);
    expect(Array.isArray(plugin.resourceTypes)).toBe(true);
    for (const step of ['triggers', 'prepare', 'outputs'] as const) expect(typeof plugin[step]).toBe('function');
    // The two differences: the engine (ONNX model or rule version, both versioned in ai_models) and when it runs.
    if (plugin.engine.kind === 'onnx') {
      expect(KNOWN_TASKS).toContain(plugin.task);
      expect(plugin.runs).toBe('queued');
    } else {
      expect(RULE_TASKS).toContain(plugin.task);
      expect(typeof plugin.engine.evaluate).toBe('function');
      expect(typeof plugin.engine.scored).toBe('function');
      expect(plugin.runs).not.toBe('queued');
    }
    // What triggers it: resource types for a plugin that runs on writes, none for one that runs on request.
    expect(plugin.resourceTypes.length > 0).toBe(plugin.runs !== 'on-request');
  });

  it('runs queued the model plugins, in-write the hospital rules whose answer is stored with the write, on request the forecast', () => {
    const by = (runs: string) => catalogue.running(runs as never).map((p) => p.task).sort();
    expect(by('queued')).toEqual(['diagnosis-confidence', 'sentiment', 'triage', 'vital-sign-anomaly']);
    expect(catalogue.queued().map((p) => p.task).sort()).toEqual(by('queued'));
    expect(by('in-write')).toEqual(['billing-error-detection', 'predictive-maintenance', 'stress-intervention', 'wellness-progress']);
    expect(by('on-request')).toEqual(['occupancy-forecast']);
  });

  it('refuses a second plugin for a task, and a worker without a task\'s plugin', () => {
    const catalogue = new PluginCatalogue();
    catalogue.add(...HOSPITAL_PLUGINS);
    catalogue.add(...HOSPITAL_PLUGINS); // the same plugins again: no change
    expect(() => catalogue.add({ ...HOSPITAL_PLUGINS[0] })).toThrow(/Two plugins for the task billing-error-detection/);
    expect(catalogue.missing(PLUGIN_TASKS).sort()).toEqual([...KNOWN_TASKS].sort());
    expect(() => catalogue.check(PLUGIN_TASKS, 'worker')).toThrow(/No plugin in the worker for the task\(s\) diagnosis-confidence/);
  });
});
