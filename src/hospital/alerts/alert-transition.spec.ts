import type { Flag } from '@medplum/fhirtypes';
import { ALERT_ACKNOWLEDGEMENT_URL, decisionExtension } from '../../fhir/projection/mappers/alert-state';
import { decided, refusalOf } from './alerts.service';
import { illegalTransition, inconsistentTimes } from './alert-transition';

const raised: Flag = {
  resourceType: 'Flag',
  id: 'a1',
  status: 'active',
  code: { coding: [{ system: 'urn:fhir-ai-server:alert', code: 'emergency' }] },
  subject: { reference: 'Patient/p1' },
  period: { start: '2026-11-27T10:00:00Z' },
};
const dr = { reference: 'Practitioner/d1' };
const acked = decided(raised, 'acknowledge', dr, '2026-11-27T10:01:00Z');
const resolved = decided(acked, 'resolve', dr, '2026-11-27T10:10:00Z');

describe('alert transitions', () => {
  it('allows raised → acknowledged → resolved and raised → resolved', () => {
    expect(illegalTransition(raised, acked)).toBeUndefined();
    expect(illegalTransition(acked, resolved)).toBeUndefined();
    expect(illegalTransition(raised, decided(raised, 'resolve', dr, '2026-11-27T10:05:00Z'))).toBeUndefined();
    expect(illegalTransition(resolved, { ...resolved, status: 'entered-in-error' })).toBeUndefined();
  });
  it('refuses reopening, changing or withdrawing a decision', () => {
    expect(illegalTransition(resolved, { ...resolved, status: 'active' })).toMatch(/cannot be reopened/);
    expect(illegalTransition(resolved, decided({ ...resolved, extension: [] }, 'resolve', dr, '2026-11-27T11:00:00Z'))).toMatch(/already resolved/);
    expect(illegalTransition(acked, raised)).toMatch(/already acknowledged by Practitioner\/d1/);
    const other = { ...raised, extension: [decisionExtension(ALERT_ACKNOWLEDGEMENT_URL, { by: { reference: 'Practitioner/d2' }, at: '2026-11-27T10:02:00Z' })] };
    expect(illegalTransition(acked, other)).toMatch(/cannot be changed/);
  });
  it('checks the order of times', () => {
    expect(inconsistentTimes(resolved)).toBeUndefined();
    expect(inconsistentTimes(decided(raised, 'acknowledge', dr, '2026-11-27T09:00:00Z'))).toMatch(/before it was raised/);
    expect(inconsistentTimes({ ...acked, status: 'inactive', period: { ...acked.period, end: '2026-11-27T10:00:30Z' } })).toMatch(/resolved before it was acknowledged/);
  });
  it('says why a decision is refused', () => {
    expect(refusalOf(raised, 'acknowledge')).toBeUndefined();
    expect(refusalOf(acked, 'acknowledge')).toMatch(/already acknowledged by Practitioner\/d1 at 2026-11-27T10:01:00Z/);
    expect(refusalOf(acked, 'resolve')).toBeUndefined();
    expect(refusalOf(resolved, 'resolve')).toMatch(/already resolved/);
    expect(refusalOf(resolved, 'acknowledge')).toMatch(/already resolved/);
  });
  it('resolving acknowledges an unacknowledged alert at the same moment, keeping an earlier acknowledgement', () => {
    const direct = decided(raised, 'resolve', dr, '2026-11-27T10:05:00Z');
    expect(direct.extension?.map((e) => e.url)).toEqual([ALERT_ACKNOWLEDGEMENT_URL, 'https://fhir-ai-server.dev/StructureDefinition/alert-resolution']);
    expect(resolved.extension?.filter((e) => e.url === ALERT_ACKNOWLEDGEMENT_URL)).toHaveLength(1);
    expect(resolved).toMatchObject({ status: 'inactive', period: { end: '2026-11-27T10:10:00Z' } });
  });
});
