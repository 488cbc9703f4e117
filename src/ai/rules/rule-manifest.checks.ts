import { SEMVER, type Problem } from '../registry/manifest.checks';
import { RULE_DEFINITIONS, canonicalJson, implementedRule, ruleManifest, type RuleDefinition } from './rule-catalog';

/** Whether a manifest (parsed JSON) declares a rule version rather than an ONNX model. */
export function isRuleManifest(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) && (raw as { kind?: unknown }).kind === 'rule';
}

export type RuleCheck = { definition: RuleDefinition; problems: [] } | { definition?: undefined; status: 400 | 422; problems: Problem[] };

/**
 * Checks a rule version's manifest: `{kind: "rule", name, version}`, and optionally `task`,
 * `parameters` and `sha256` (of the canonical definition), which must then be the code's. The code
 * must implement that name and version (rule-catalog.ts): a rule is registered, never uploaded. Pure.
 */
export function checkRuleManifest(raw: unknown): RuleCheck {
  if (!isRuleManifest(raw)) return { status: 400, problems: [{ path: 'kind', message: 'a rule manifest has "kind": "rule"' }] };
  const m = raw as Record<string, unknown>;
  const problems: Problem[] = [];
  if (typeof m.name !== 'string' || !m.name) problems.push({ path: 'name', message: 'name must be the rule\'s name' });
  if (typeof m.version !== 'string' || !SEMVER.test(m.version)) problems.push({ path: 'version', message: 'version must be a semantic version (e.g. 1.1.0)' });
  const known = ['kind', 'name', 'version', 'task', 'parameters', 'sha256', 'title', 'description'];
  for (const key of Object.keys(m)) if (!known.includes(key)) problems.push({ path: key, message: `a rule manifest has no field ${key} (fields: ${known.join(', ')})` });
  if (problems.length) return { status: 400, problems };
  const definition = implementedRule(m.name as string, m.version as string);
  if (!definition) {
    const versions = RULE_DEFINITIONS.filter((d) => d.name === m.name).map((d) => d.version);
    const hint = versions.length ? `its implemented versions are ${versions.join(', ')}` : `the implemented rules are ${[...new Set(RULE_DEFINITIONS.map((d) => d.name))].join(', ')}`;
    return { status: 422, problems: [{ path: 'version', message: `This server's code implements no rule ${String(m.name)} ${String(m.version)} (${hint}): a rule version is implemented in code before it is registered` }] };
  }
  const manifest = ruleManifest(definition);
  if (m.task !== undefined && m.task !== definition.task) problems.push({ path: 'task', message: `${definition.name} serves the task ${definition.task}, not ${String(m.task)}` });
  if (m.parameters !== undefined && canonicalJson(m.parameters) !== canonicalJson(definition.parameters)) {
    problems.push({ path: 'parameters', message: `the parameters of ${definition.name} ${definition.version} are ${canonicalJson(definition.parameters)}; a version's parameters are fixed in code (other parameters are another version)` });
  }
  if (m.sha256 !== undefined && m.sha256 !== manifest.definition.sha256) {
    problems.push({ path: 'sha256', message: `the sha256 of the canonical definition of ${definition.name} ${definition.version} is ${manifest.definition.sha256}, not ${String(m.sha256)}` });
  }
  return problems.length ? { status: 422, problems } : { definition, problems: [] };
}
