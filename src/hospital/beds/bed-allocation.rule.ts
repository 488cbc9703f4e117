import { Injectable } from '@nestjs/common';
import type { Encounter, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { OperationOutcomeError } from '../../fhir/operation-outcome';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { bedStays, overlaps, unendedStays, withDischargeEnds, type BedStay } from './bed-stays';
import { BedsRepository, type Allocation } from './beds.repository';

/**
 * A bed holds one patient at a time and a patient is in at most one bed at a time: an Encounter
 * whose bed stay holds the bed (allocating: status active, planned or reserved; or occupying: the
 * patient is or was there, a completed location or a finished encounter included, see bed-stays.ts)
 * over a period that overlaps another encounter's holding stay of the same bed, or another bed of the
 * same patient, is refused with a 409 naming the bed and the encounter in the way; retrospective
 * stays are held to the same rules as current ones, since occupancy counts them. A stay that is over
 * without any end gets one recorded first (withDischargeEnds: the discharge). Stays of a bed and of a
 * patient are serialised by advisory locks, so two concurrent admissions cannot both pass.
 */
@Injectable()
export class BedAllocationRule implements WriteRule {
  readonly name = 'beds:one-patient-per-bed';
  readonly resourceTypes = ['Encounter'] as const;

  constructor(private readonly repo: BedsRepository) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Encounter | void> {
    const given = resource as Encounter;
    const locations = bedStays(given).map((s) => s.location);
    if (!locations.length) return;
    // Most encounters' locations are wards, rooms or sites, not beds: those need no end, lock or check.
    const beds = await this.bedsAmong(tx, locations, ctx);
    if (!beds.size) return;
    let encounter = given;
    // The discharge is this write, at the transaction's time: the bed is free as the triggers see it.
    if (unendedStays(given).some((l) => beds.has(l))) encounter = withDischargeEnds(given, ctx.previous as Encounter | undefined, await this.repo.transactionTime(tx), beds);
    const amended = encounter === given ? undefined : encounter;
    const stays = bedStays(encounter).filter((s) => (s.allocating || s.occupying) && beds.has(s.location));
    if (!stays.length) return amended;
    const patientId = localRefId(encounter.subject, 'Patient');
    await this.repo.lock(tx, [...stays.map((s) => `bed:${s.location}`), ...(patientId ? [`bed-patient:${patientId}`] : [])]);
    await ctx.flush(); // the stays of encounters written earlier in this transaction
    const id = encounter.id as string;
    for (let i = 0; i < stays.length; i++) {
      for (let j = i + 1; j < stays.length; j++) {
        if (overlaps(stays[i], stays[j])) {
          throw refuse(
            `Encounter/${id} puts its patient in Location/${stays[i].location} and Location/${stays[j].location} at the same time (${period(stays[j])}); a patient is in at most one bed at a time`,
          );
        }
      }
    }
    for (const stay of stays) {
      const [taken] = await this.repo.allocationsOfBed(tx, stay.location, stay, id);
      if (taken) {
        throw refuse(`Location/${stay.location} is occupied: Encounter/${taken.encounterId} holds it ${period(taken)}, which overlaps the requested ${period(stay)}`);
      }
      if (!patientId) continue;
      const [other] = await this.repo.allocationsOfPatient(tx, patientId, stay, id);
      if (other) {
        throw refuse(
          `Patient/${patientId} already has a bed: Location/${other.bed} in Encounter/${other.encounterId} ${period(other)}, which overlaps the requested Location/${stay.location} ${period(stay)}; release it first (location status completed or a period end)`,
        );
      }
    }
    return amended;
  }

  /** Which of these Locations are beds (a bed Location written earlier in this transaction too: flushed first when there is one). */
  private async bedsAmong(tx: Tx, locations: readonly string[], ctx: WriteRuleContext): Promise<Set<string>> {
    if (ctx.hasPending('Location')) await ctx.flush();
    return this.repo.bedsAmong(tx, locations);
  }
}

function period(s: BedStay | Allocation): string {
  return `from ${s.start ?? 'an open start'} to ${s.end ?? 'an open end'}`;
}

function refuse(message: string): OperationOutcomeError {
  return OperationOutcomeError.of(409, 'conflict', message, ['Encounter.location']);
}
