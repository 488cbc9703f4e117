import { Injectable } from '@nestjs/common';
import type { AnyAiPlugin, ModelPlugin, PluginRuns, PluginTask } from '../ai-plugin';
import { RULE_TASKS } from '../rules/rule-catalog';
import { KNOWN_TASKS } from '../task-contracts';

/** Every task ai_models can hold a version of: the model tasks (task-contracts.ts) and the rule tasks (rule-catalog.ts). Each needs one plugin. */
export const PLUGIN_TASKS: readonly PluginTask[] = [...KNOWN_TASKS, ...RULE_TASKS];

/**
 * The plugins of this process, one per task: the AI worker's model plugins (added by AiModule) and
 * the hospital modules' rule plugins (added by HospitalModule), all of the one AiPlugin interface.
 * The queued runner takes its plugins from here; PluginCore runs only plugins listed here; the
 * worker checks at start that every task has its plugin.
 */
@Injectable()
export class PluginCatalogue {
  private readonly byTask = new Map<PluginTask, AnyAiPlugin>();

  /** Adds plugins; a second, different plugin for a task is a programming error. */
  add(...plugins: AnyAiPlugin[]): void {
    for (const plugin of plugins) {
      const known = this.byTask.get(plugin.task);
      if (known && known !== plugin) throw new Error(`Two plugins for the task ${plugin.task}`);
      this.byTask.set(plugin.task, plugin);
    }
  }

  get(task: string): AnyAiPlugin | undefined {
    return this.byTask.get(task as PluginTask);
  }

  has(plugin: AnyAiPlugin): boolean {
    return this.byTask.get(plugin.task) === plugin;
  }

  all(): AnyAiPlugin[] {
    return [...this.byTask.values()];
  }

  /** The plugins that run at this moment (queued, in-write, on-request). */
  running(runs: PluginRuns): AnyAiPlugin[] {
    return this.all().filter((p) => p.runs === runs);
  }

  /** The AI worker's plugins: queued, with ONNX versions. */
  queued(): ModelPlugin[] {
    return this.running('queued').filter((p): p is ModelPlugin => p.engine.kind === 'onnx');
  }

  /** The tasks among these that no plugin serves. */
  missing(tasks: readonly string[]): string[] {
    return [...new Set(tasks)].filter((t) => !this.byTask.has(t as PluginTask));
  }

  /** Start-up check: every one of these tasks (those ai_models can hold, those it holds) has its plugin in this process. */
  check(tasks: readonly string[], where: string): void {
    const missing = this.missing(tasks);
    if (missing.length) throw new Error(`No plugin in the ${where} for the task(s) ${missing.join(', ')}: every task with versions in ai_models needs one`);
  }
}
