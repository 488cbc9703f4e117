import type { Extension } from '@medplum/fhirtypes';
import type { RuleDefinition, RuleTask } from './rule-catalog';
import type { ActiveRule } from './rule-registry.service';

/**
 * The shape a rule behaviour shares with an AI plugin (src/ai/ai-plugin.ts): the task it serves,
 * what triggers it, which version serves (RuleRegistry.active(task): the active rule version in
 * ai_models, as ModelRegistry.active gives a plugin its model), and a pure evaluation of one input
 * by that version. Unlike a plugin it runs where its answer is needed (inside the write
 * transaction, or on request) rather than as a queued job, and its outputs name the version by the
 * `model` reference below (the version's Device).
 */
export interface RuleBehaviour<Input, Output> {
  readonly task: RuleTask;
  /** The resource types whose writes run it (on the write path); empty when it runs on request. */
  readonly triggers: readonly string[];
  /** Pure: what this version of the rule makes of one input. */
  evaluate(rule: RuleDefinition, input: Input): Output;
}

/** Sub-extension url, inside a behaviour's own server-owned extension, naming the version that made it. */
export const RULE_MODEL_SUB_URL = 'model';

/** The reference to the version's Device that every output of a rule carries. Pure. */
export function ruleReference(rule: ActiveRule): { reference: string; display: string } {
  return { reference: rule.device, display: `${rule.definition.name} ${rule.definition.version}` };
}

/** `{url: 'model', valueReference: Device/<id>}`, for a behaviour's complex extension. Pure. */
export function ruleModelExtension(rule: ActiveRule): Extension {
  return { url: RULE_MODEL_SUB_URL, valueReference: ruleReference(rule) };
}

/** A number parameter of a rule version, or the fallback when the version does not set it. */
export function numberParameter(rule: RuleDefinition, name: string, fallback: number): number {
  const v = rule.parameters[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}
