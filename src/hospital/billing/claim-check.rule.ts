import { Injectable } from '@nestjs/common';
import type { Claim, Encounter, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { BILLING_CHECK_URL, billingCheckExtension } from '../../fhir/projection/mappers/claim.mapper';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import { SearchService } from '../../fhir/search/search.service';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import { TxWrites } from '../pharmacy/tx-writes';
import { ruleModelExtension } from '../../ai/rules/rule-behaviour';
import { RuleRegistry } from '../../ai/rules/rule-registry.service';
import { BILLING_ERROR_DETECTION } from './claim-errors';

/**
 * Every Claim written is checked for likely billing errors (claim-errors.ts) and annotated, never
 * refused: a flagged claim gets the billing-error-check extension (flag, rule version, reasons, and
 * `model`: the Device of the active rule version in ai_models),
 * a clean one is stored as sent (any such extension a client set is removed); the billing table projects (`ai_error_detected`, `ai_error_reasons`). Claims of one patient are
 * checked one at a time (a transaction-level advisory lock on the patient's billing), so two
 * duplicates written at once cannot both miss each other. Encounters are read through the write
 * path (which locks them until commit: a claim is checked against the encounter as it stays).
 */
@Injectable()
export class ClaimCheckRule implements WriteRule {
  readonly name = 'billing-error-check';
  readonly resourceTypes = ['Claim'];

  constructor(
    private readonly writer: ResourceWriteService,
    private readonly txWrites: TxWrites,
    private readonly search: SearchService,
    private readonly store: ResourceStore,
    private readonly rules: RuleRegistry,
  ) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx?: WriteRuleContext): Promise<Resource> {
    const claim = resource as Claim;
    const patientId = localRefId(claim.patient, 'Patient');
    const encounterIds = [...new Set((claim.item ?? []).flatMap((i) => i.encounter ?? []).map((r) => localRefId(r, 'Encounter')))].filter((id): id is string => !!id);
    // Through the write path, which locks them in sorted order and sees an encounter written earlier in this transaction (a bundle).
    await this.writer.prefetch(tx, encounterIds.map((id) => ({ resourceType: 'Encounter', id })));
    const encounters = new Map<string, Encounter | null>();
    for (const id of encounterIds) encounters.set(id, await this.current<Encounter>(tx, 'Encounter', id));
    const otherClaims: Claim[] = [];
    if (patientId && claim.status === 'active') {
      // Taken after the encounters' locks, in the order every claim takes them, so two writers cannot deadlock.
      await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`billing/Patient/${patientId}`]);
      // The index holds committed (and flushed) claims; this transaction's others are read as they now stand.
      const inTx = new Set(this.txWrites.ids(tx, 'Claim'));
      const indexed = (await this.search.matchIds(tx, 'Claim', `patient=Patient/${encodeURIComponent(patientId)}&status=active`, 1000)).filter((id) => !inTx.has(id));
      const found = await this.store.readCurrentMany(indexed.map((id) => ({ resourceType: 'Claim', id })), tx);
      for (const v of found.values()) if (!v.deleted && v.json) otherClaims.push(JSON.parse(v.json) as Claim);
      for (const id of inTx) {
        const c = id === claim.id ? null : await this.current<Claim>(tx, 'Claim', id);
        if (c) otherClaims.push(c);
      }
    }
    if (claim.id) this.txWrites.note(tx, 'Claim', claim.id);
    // The active version of the rules (ai_models, task billing-error-detection): the verdict names it.
    // Counted per version (ai_predictions) with the claim's write; shadow versions run beside it, never shown.
    const { rule, output: reasons } = await this.rules.run(
      tx,
      BILLING_ERROR_DETECTION,
      { claim, ctx: { encounters, otherClaims: otherClaims.filter((c) => c.id !== claim.id) } },
      { input: { ref: `Claim/${claim.id}`, versionId: Number(ctx?.previous?.meta?.versionId ?? 0) + 1 }, patientId: patientId ?? null, outputRef: `Claim/${claim.id}` },
      (found) => ({ score: found.length, label: found.length ? 'flagged' : 'clean' }),
    );
    // A clean claim is stored as sent (exchange is lossless); only a flagged one carries the verdict.
    const others = (claim.extension ?? []).filter((e) => e.url !== BILLING_CHECK_URL);
    const verdict = billingCheckExtension({ detected: true, rules: rule.manifest.label, reasons });
    const extension = reasons.length ? [...others, { ...verdict, extension: [...(verdict.extension ?? []), ruleModelExtension(rule)] }] : others;
    const checked = { ...claim, extension } as Claim;
    if (!extension.length) delete checked.extension;
    return checked;
  }

  private async current<T>(tx: Tx, type: string, id: string): Promise<T | null> {
    const v = await this.writer.currentOf(tx, type, id);
    return v && !v.deleted && v.json ? (JSON.parse(v.json) as T) : null;
  }
}
