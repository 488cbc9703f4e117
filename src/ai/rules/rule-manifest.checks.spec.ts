import { ruleManifest, implementedRule } from './rule-catalog';
import { checkRuleManifest, isRuleManifest } from './rule-manifest.checks';

const paths = (raw: unknown) => checkRuleManifest(raw).problems.map((p) => p.path);

describe('checkRuleManifest', () => {
  it('accepts an implemented version, with or without what it states about itself', () => {
    expect(checkRuleManifest({ kind: 'rule', name: 'holt-winters-additive-weekly', version: '1.1.0' }).definition?.parameters.alpha).toBe(0.2);
    const def = implementedRule('holt-winters-additive-weekly', '1.1.0')!;
    const full = { kind: 'rule', name: def.name, version: def.version, task: def.task, parameters: { ...def.parameters }, sha256: ruleManifest(def).definition.sha256 };
    expect(checkRuleManifest(full).problems).toEqual([]);
  });

  it('refuses a version the code does not implement (422), naming the implemented ones', () => {
    const r = checkRuleManifest({ kind: 'rule', name: 'holt-winters-additive-weekly', version: '2.0.0' });
    expect(r).toMatchObject({ status: 422 });
    expect(r.problems[0].message).toMatch(/implements no rule holt-winters-additive-weekly 2\.0\.0 \(its implemented versions are 1\.0\.0, 1\.1\.0\)/);
    expect(checkRuleManifest({ kind: 'rule', name: 'tarot', version: '1.0.0' }).problems[0].message).toMatch(/the implemented rules are billing-error-rules, /);
  });

  it('refuses other task, parameters or sha256 than the code\'s (422) and a malformed manifest (400)', () => {
    const base = { kind: 'rule', name: 'usage-hours-linear', version: '1.0.0' };
    expect(paths({ ...base, task: 'triage', parameters: { flagShare: 0.5 }, sha256: 'ab' })).toEqual(['task', 'parameters', 'sha256']);
    expect(checkRuleManifest({ ...base, task: 'triage' })).toMatchObject({ status: 422 });
    expect(checkRuleManifest({ ...base, version: '1.0' })).toMatchObject({ status: 400 });
    expect(paths({ ...base, version: '1.0', model: { file: 'x.onnx' } })).toEqual(['version', 'model']);
    expect(paths({ kind: 'onnx' })).toEqual(['kind']);
  });

  it('tells rule manifests from model manifests', () => {
    expect(isRuleManifest({ kind: 'rule' })).toBe(true);
    expect(isRuleManifest({ name: 'cad', task: 'triage' })).toBe(false);
    expect(isRuleManifest([{ kind: 'rule' }])).toBe(false);
    expect(isRuleManifest(null)).toBe(false);
  });
});
