import { Injectable } from '@nestjs/common';
import type { Claim, Encounter, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import { SearchService } from '../../fhir/search/search.service';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import { TxWrites } from '../pharmacy/tx-writes';
import { PluginCore } from '../../ai/plugins/plugin-core';
import { BILLING_ERROR_PLUGIN } from './billing-error.plugin';

/**
 * Runs the billing error plugin (billing-error.plugin.ts) on every Claim written, inside its write
 * transaction: it gathers what the plugin needs and stores the claim as the plugin annotates it
 * (the billing table projects `ai_error_detected`, `ai_error_reasons`). Claims of one patient are
 * checked one at a time (a transaction-level advisory lock on the patient's billing), so two
 * duplicates written at once cannot both miss each other. Encounters are read through the write
 * path (which locks them until commit: a claim is checked against the encounter as it stays).
 */
@Injectable()
export class ClaimCheckRule implements WriteRule {
  readonly name = 'billing-error-check';
  readonly resourceTypes = BILLING_ERROR_PLUGIN.resourceTypes;

  constructor(
    private readonly writer: ResourceWriteService,
    private readonly txWrites: TxWrites,
    private readonly search: SearchService,
    private readonly store: ResourceStore,
    private readonly plugins: PluginCore,
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
    // The active version of the rules (ai_models, task billing-error-detection) decides; the verdict names it.
    // Counted per version (ai_predictions) with the claim's write; shadow versions run beside it, never shown.
    const { output: checked } = await this.plugins.inTransaction(
      tx,
      BILLING_ERROR_PLUGIN,
      { claim, encounters, otherClaims },
      { input: { ref: `Claim/${claim.id}`, versionId: Number(ctx?.previous?.meta?.versionId ?? 0) + 1 }, patientId: patientId ?? null, outputRef: `Claim/${claim.id}` },
    );
    return checked;
  }

  private async current<T>(tx: Tx, type: string, id: string): Promise<T | null> {
    const v = await this.writer.currentOf(tx, type, id);
    return v && !v.deleted && v.json ? (JSON.parse(v.json) as T) : null;
  }
}
