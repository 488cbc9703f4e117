import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { ResourceStore, type StoredVersion } from '../../fhir/store/resource-store.repository';
import type { ResourceEvent } from '../../outbox/outbox.repository';
import { FreshRead } from '../../outbox/fresh-read';
import { PushRepository } from './push.repository';
import { patientOf, pushKindOf } from './push-rules';

/** Only these types can be pushed; every other event is passed over without reading anything. */
const PUSHED_TYPES = new Set(['RiskAssessment', 'Task']);

/**
 * Decides, on each committed resource event, whether the version goes to the patient's home EHR
 * (an AI result, or an approved recommendation, of a patient pulled from an active connection,
 * and every later version of what was sent: a correction or a retraction),
 * and records it as a pending push. The row is the truth: a dispatcher in the worker queues it,
 * so it survives Redis being down; the unique (connection, resource version) key means a
 * redelivered event adds nothing.
 */
@Injectable()
export class PushTrigger {
  /** Whether any connection is active, shared by events whose work began before the check started. */
  private readonly anyActive = new FreshRead(() => this.pushes.anyActiveConnection());

  constructor(
    private readonly store: ResourceStore,
    private readonly pushes: PushRepository,
  ) {}

  /** Whether the event is of a kind that could be pushed at all (no read). */
  mayPush(e: Pick<ResourceEvent, 'action' | 'resourceType'>): boolean {
    return e.action !== 'delete' && PUSHED_TYPES.has(e.resourceType);
  }

  /**
   * The id of the push recorded for the event, if one was. `since`: when the event's work began
   * (performance.now(), after its commit); `current`: the fan-out's read of the resource's
   * current version, used when it is the event's version.
   */
  async onEvent(e: ResourceEvent, since: number = performance.now(), current?: () => Promise<StoredVersion | undefined>): Promise<number | undefined> {
    if (!this.mayPush(e)) return undefined;
    // Without an active connection (the usual case) nothing is read.
    if (!(await this.anyActive.get(since))) return undefined;
    // The event's own version: a later one has its own event.
    const latest = current ? await current() : undefined;
    const version = latest?.versionId === e.versionId ? latest : await this.store.readVersion(e.resourceType, e.resourceId, e.versionId);
    if (!version?.json || version.deleted) return undefined;
    const resource = JSON.parse(version.json) as Resource;
    const patientId = e.patientId ?? patientOf(resource);
    if (!patientId) return undefined;
    const home = await this.pushes.homeConnection(patientId);
    if (!home?.active) return undefined;
    // A version of a kind that is pushed, or any later version of a resource already sent (a
    // correction or a retraction by a clinician must reach the remote copy too).
    if (!pushKindOf(resource) && !(await this.pushes.wasPushed(home.connectionId, e.resourceType, e.resourceId, e.versionId))) return undefined;
    return this.pushes.insert({ connectionId: home.connectionId, resourceType: e.resourceType, resourceId: e.resourceId, versionId: e.versionId, patientId });
  }
}
