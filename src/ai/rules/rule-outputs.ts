import type { Extension } from '@medplum/fhirtypes';
import type { RuleDefinition } from './rule-catalog';
import type { ActiveRule } from './rule-registry.service';

/** Sub-extension url, inside a rule plugin's own server-owned extension, naming the version that made it. */
export const RULE_MODEL_SUB_URL = 'model';

/** The reference to the version's Device that every output of a rule carries. Pure. */
export function ruleReference(rule: ActiveRule): { reference: string; display: string } {
  return { reference: rule.device, display: `${rule.definition.name} ${rule.definition.version}` };
}

/** `{url: 'model', valueReference: Device/<id>}`, for a rule plugin's complex extension. Pure. */
export function ruleModelExtension(rule: ActiveRule): Extension {
  return { url: RULE_MODEL_SUB_URL, valueReference: ruleReference(rule) };
}

/** A number parameter of a rule version, or the fallback when the version does not set it. */
export function numberParameter(rule: RuleDefinition, name: string, fallback: number): number {
  const v = rule.parameters[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}
