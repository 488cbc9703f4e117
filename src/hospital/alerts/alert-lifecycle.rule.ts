import { Injectable } from '@nestjs/common';
import type { Flag, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { OperationOutcomeError, badRequest } from '../../fhir/operation-outcome';
import { ALERT_SYSTEM, isEmergencyAlert } from '../../fhir/projection/mappers/alert-state';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { badGeolocation, raisedInTheFuture } from './alert-input';
import { illegalTransition, inconsistentTimes } from './alert-transition';

/**
 * Emergency alert Flags follow their lifecycle on every write path: an illegal transition is a 409,
 * inconsistent decision times a 400, and so are a period.start (raised at) more than
 * ALERT_CLOCK_SKEW_MS in the future and a geolocation off the globe (both checked when they change,
 * so an alert stored before can still be decided); a period.start ahead by less is clock skew and
 * taken as now. A new alert without period.start is stamped raised now (response
 * times are measured from it); a resolved one without period.end is stamped resolved now. Every
 * alert carries the meta tag urn:fhir-ai-server:alert|emergency, because R4 Flag has no `code`
 * search parameter: a clinician's system subscribes with `Flag?_tag=urn:fhir-ai-server:alert|emergency`.
 * The lock on the Flag taken by the write path serialises concurrent decisions.
 */
@Injectable()
export class AlertLifecycleRule implements WriteRule {
  readonly name = 'alerts:lifecycle';
  readonly resourceTypes = ['Flag'] as const;

  beforeWrite(_tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource | void> {
    const flag = resource as Flag;
    const previous = ctx.previous as Flag | undefined;
    if (!isEmergencyAlert(flag) && !isEmergencyAlert(previous)) return Promise.resolve();
    if (previous && isEmergencyAlert(previous)) {
      const why = illegalTransition(previous, flag);
      if (why) throw OperationOutcomeError.of(409, 'conflict', why, ['Flag.status']);
    }
    const now = new Date().toISOString();
    let amended = flag;
    if (!amended.period?.start) amended = { ...amended, period: { ...amended.period, start: previous?.period?.start ?? now } };
    if (amended.status === 'inactive' && !amended.period?.end) amended = { ...amended, period: { ...amended.period, end: now } };
    if (isEmergencyAlert(amended) && !amended.meta?.tag?.some((t) => t.system === ALERT_SYSTEM && t.code === 'emergency')) {
      amended = { ...amended, meta: { ...amended.meta, tag: [...(amended.meta?.tag ?? []), { system: ALERT_SYSTEM, code: 'emergency', display: 'Emergency alert' }] } };
    }
    if (amended.period?.start !== previous?.period?.start) {
      const future = raisedInTheFuture(amended, Date.now());
      if (future) throw badRequest(future, ['Flag.period.start']);
      // Ahead within the tolerance is the raising system's clock: raised now, so it is open and can be acknowledged at once.
      if (Date.parse(amended.period?.start ?? '') > Date.parse(now)) amended = { ...amended, period: { ...amended.period, start: now } };
    }
    const geo = badGeolocation(amended);
    if (geo && geo !== (previous && badGeolocation(previous))) throw badRequest(geo, ['Flag.extension']);
    const bad = inconsistentTimes(amended);
    if (bad) throw badRequest(bad, ['Flag.extension']);
    return Promise.resolve(amended === flag ? undefined : amended);
  }
}
