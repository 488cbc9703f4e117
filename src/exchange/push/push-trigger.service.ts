import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import type { ResourceEvent } from '../../outbox/outbox.repository';
import { PushRepository } from './push.repository';
import { patientOf, pushKindOf } from './push-rules';

/** Only these types can be pushed; every other event is passed over without reading anything. */
const PUSHED_TYPES = new Set(['RiskAssessment', 'Task']);

/**
 * Decides, on each committed resource event, whether the version goes to the patient's home EHR
 * (an AI result, or an approved recommendation, of a patient pulled from an active connection),
 * and records it as a pending push. The row is the truth: a dispatcher in the worker queues it,
 * so it survives Redis being down; the unique (connection, resource version) key means a
 * redelivered event adds nothing.
 */
@Injectable()
export class PushTrigger {
  constructor(
    private readonly store: ResourceStore,
    private readonly pushes: PushRepository,
  ) {}

  /** The id of the push recorded for the event, if one was. */
  async onEvent(e: ResourceEvent): Promise<number | undefined> {
    if (e.action === 'delete' || !PUSHED_TYPES.has(e.resourceType)) return undefined;
    // The event's own version: a later one has its own event.
    const version = await this.store.readVersion(e.resourceType, e.resourceId, e.versionId);
    if (!version?.json || version.deleted) return undefined;
    const resource = JSON.parse(version.json) as Resource;
    if (!pushKindOf(resource)) return undefined;
    const patientId = e.patientId ?? patientOf(resource);
    if (!patientId) return undefined;
    const home = await this.pushes.homeConnection(patientId);
    if (!home?.active) return undefined;
    return this.pushes.insert({ connectionId: home.connectionId, resourceType: e.resourceType, resourceId: e.resourceId, versionId: e.versionId, patientId });
  }
}
