import { Injectable } from '@nestjs/common';
import type { MedicationAdministration, MedicationRequest, MedicationStatement, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import {
  administrationPrescription,
  administrationTaken,
  statementPrescription,
  statementTaken,
} from '../../fhir/projection/mappers/adherence.mapper';
import { ADHERENCE_RATE_URL } from '../../fhir/projection/mappers/medication-request.mapper';
import { localRefId, toTimestamp } from '../../fhir/projection/mappers/mapper-utils';
import { ResourceWriteService, prepare } from '../../fhir/write/resource-write.service';
import { adherenceRate, type DoseEvent } from './adherence';
import { TxWrites } from './tx-writes';

export const ADHERENCE_EVENT_TYPES = ['MedicationAdministration', 'MedicationStatement'] as const;

export interface EventView {
  patientId?: string;
  prescriptionId?: string;
  /** undefined: the event does not count (e.g. in progress, entered in error). */
  taken?: boolean;
  /** When the dose was given or missed (the projection's timestamp), in ms. */
  at?: number;
}

/** What an adherence event says, as the adherence_tracking projection reads it. */
export function eventView(r: Resource | undefined): EventView {
  if (r?.resourceType === 'MedicationAdministration') {
    const ma = r as MedicationAdministration;
    return { patientId: localRefId(ma.subject, 'Patient'), prescriptionId: administrationPrescription(ma), taken: administrationTaken(ma), at: instantOf(ma.effectiveDateTime ?? ma.effectivePeriod?.start) };
  }
  if (r?.resourceType === 'MedicationStatement') {
    const ms = r as MedicationStatement;
    return { patientId: localRefId(ms.subject, 'Patient'), prescriptionId: statementPrescription(ms), taken: statementTaken(ms), at: instantOf(ms.effectiveDateTime ?? ms.effectivePeriod?.start ?? ms.dateAsserted) };
  }
  return {};
}

/** The instant as the projection stores it (`toTimestamp`), in ms. */
function instantOf(value: string | undefined): number | undefined {
  const t = toTimestamp(value);
  return t ? Date.parse(t) : undefined;
}

/** A `timestamp` column's value (UTC, read as a Date by pg-types) in ms. */
function timestampMs(t: Date | string): number {
  return t instanceof Date ? t.getTime() : Date.parse(`${String(t).replace(' ', 'T')}Z`);
}

/** The prescription with its adherence-rate extension set to `rate` (or removed). */
export function withAdherenceRate(mr: MedicationRequest, rate: number | undefined): MedicationRequest {
  const others = (mr.extension ?? []).filter((e) => e.url !== ADHERENCE_RATE_URL);
  const extension = rate === undefined ? others : [...others, { url: ADHERENCE_RATE_URL, valueDecimal: rate }];
  const { extension: _old, ...rest } = mr;
  return (extension.length ? { ...rest, extension } : rest) as MedicationRequest;
}

/**
 * `prescriptions.adherence_rate`: the prescription (MedicationRequest) carries its rate in a
 * server-owned extension, projected onto the column, so the resource stays the truth. An adherence
 * event (MedicationAdministration, MedicationStatement) recomputes its prescription's rate from the
 * events already recorded (`adherence_tracking`, plus those of this transaction not yet flushed)
 * and its own, and writes the prescription through the write path under its lock, so concurrent
 * events of one prescription are counted one after the other. A client's write of the
 * prescription cannot set the rate: it is recomputed.
 */
@Injectable()
export class AdherenceService {
  /** Prescriptions this service is itself writing, per transaction: their rate is already computed. */
  private readonly ownWrites = new WeakMap<Tx, Set<string>>();

  constructor(
    private readonly writer: ResourceWriteService,
    private readonly txWrites: TxWrites,
  ) {}

  /** After event `eventId` changed (`event` undefined: it no longer counts), its prescription's new rate. */
  async recompute(tx: Tx, prescriptionId: string, eventId: string, event: DoseEvent | undefined): Promise<void> {
    const current = await this.writer.currentOf(tx, 'MedicationRequest', prescriptionId);
    if (!current || current.deleted || !current.json) return; // the event's foreign key refuses it at commit
    const mr = JSON.parse(current.json) as MedicationRequest;
    const events = await this.recorded(tx, current.patientId, prescriptionId, eventId);
    const updated = withAdherenceRate(mr, adherenceRate(mr, event ? [...events, event] : events, new Date()));
    if (JSON.stringify(updated.extension ?? null) === JSON.stringify(mr.extension ?? null)) return;
    const own = this.ownWrites.get(tx) ?? new Set<string>();
    own.add(prescriptionId);
    this.ownWrites.set(tx, own);
    await this.writer.updateInTx(tx, prepare(updated, 'MedicationRequest', prescriptionId), {});
  }

  /** The rate of a prescription a client writes: recomputed from its recorded events (none for a new one). */
  async onPrescriptionWrite(tx: Tx, mr: MedicationRequest, existed: boolean): Promise<MedicationRequest> {
    const own = this.ownWrites.get(tx);
    if (mr.id && own?.delete(mr.id)) return mr;
    if (!existed) return withAdherenceRate(mr, undefined);
    const events = await this.recorded(tx, localRefId(mr.subject, 'Patient') ?? null, mr.id as string, undefined);
    return withAdherenceRate(mr, adherenceRate(mr, events, new Date()));
  }

  /** The prescription's counted events other than `exceptId`: the table's, with this transaction's own as they now stand. */
  private async recorded(tx: Tx, patientId: string | null, prescriptionId: string, exceptId: string | undefined): Promise<DoseEvent[]> {
    if (!patientId) return [];
    const inTx = ADHERENCE_EVENT_TYPES.flatMap((type) => this.txWrites.ids(tx, type).map((id) => ({ type, id })));
    const inTxIds = new Set(inTx.map((e) => e.id));
    const rows = await tx.query<{ id: string; taken: boolean; timestamp: Date | null }>(
      'SELECT id, taken, timestamp FROM adherence_tracking WHERE patient_id = ? AND prescription_id = ? AND taken IS NOT NULL',
      [patientId, prescriptionId],
    );
    const events: DoseEvent[] = rows.filter((r) => r.id !== exceptId && !inTxIds.has(r.id)).map((r) => ({ taken: !!r.taken, ...(r.timestamp ? { at: timestampMs(r.timestamp) } : {}) }));
    for (const { type, id } of inTx) {
      if (id === exceptId) continue;
      const current = await this.writer.currentOf(tx, type, id);
      const v = eventView(current && !current.deleted && current.json ? (JSON.parse(current.json) as Resource) : undefined);
      if (v.patientId === patientId && v.prescriptionId === prescriptionId && v.taken !== undefined) events.push({ taken: v.taken, at: v.at });
    }
    return events;
  }
}
