import type { Claim, Encounter } from '@medplum/fhirtypes';
import type { RulePlugin } from '../../ai/ai-plugin';
import { ruleModelExtension } from '../../ai/rules/rule-outputs';
import { BILLING_CHECK_URL, billingCheckExtension, type ClaimErrorReason } from '../../fhir/projection/mappers/claim.mapper';
import { detectClaimErrors, type ClaimCheckContext } from './claim-errors';

/** What the write rule gathers for a Claim being written: the claim, the encounters its items reference (null: not found), the patient's active claims. */
export interface ClaimCheckInput {
  claim: Claim;
  encounters: ReadonlyMap<string, Encounter | null>;
  otherClaims: readonly Claim[];
}

export interface ClaimCheckPrepared {
  claim: Claim;
  ctx: ClaimCheckContext;
}

/**
 * Billing error detection (task billing-error-detection; versions `billing-error-rules` in
 * ai_models): every Claim written is checked (claim-errors.ts) and annotated, never refused. A
 * flagged claim carries the billing-error-check extension (flag, rule label, reasons, and `model`:
 * the version's Device); a clean one is stored as sent (any such extension a client set is removed).
 */
export const BILLING_ERROR_PLUGIN: RulePlugin<ClaimCheckInput, ClaimCheckPrepared, ClaimErrorReason[], Claim> = {
  task: 'billing-error-detection',
  // In-write: the Claim is stored already flagged (its extension, billing.ai_error_detected and ai_error_reasons from its
  // first version), and a duplicate is judged against the claims written before it under the patient's billing lock.
  runs: 'in-write',
  resourceTypes: ['Claim'],
  triggers: () => true,
  engine: {
    kind: 'rule',
    // Version 1.0.0 is detectClaimErrors as it stands (its parameters describe it).
    evaluate: (_rule, { claim, ctx }) => detectClaimErrors(claim, ctx),
    scored: (found) => ({ score: found.length, label: found.length ? 'flagged' : 'clean' }),
  },
  prepare: (_rule, { claim, encounters, otherClaims }) => ({ claim, ctx: { encounters, otherClaims: otherClaims.filter((c) => c.id !== claim.id) } }),
  outputs: (rule, { claim }, _prepared, reasons) => {
    // A clean claim is stored as sent (exchange is lossless); only a flagged one carries the verdict.
    const others = (claim.extension ?? []).filter((e) => e.url !== BILLING_CHECK_URL);
    const verdict = billingCheckExtension({ detected: true, rules: rule.manifest.label, reasons });
    const extension = reasons.length ? [...others, { ...verdict, extension: [...(verdict.extension ?? []), ruleModelExtension(rule)] }] : others;
    const checked = { ...claim, extension } as Claim;
    if (!extension.length) delete checked.extension;
    return checked;
  },
};
