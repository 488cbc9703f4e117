import type { Flag } from '@medplum/fhirtypes';
import { ALERT_ACKNOWLEDGEMENT_URL, ALERT_RESOLUTION_URL, GEOLOCATION_URL, alertState, decisionExtension, secondsBetween } from './alert-state';
import { emergencyAlertMapper } from './ai-output.mappers';

const ctx = { blindIndex: () => Buffer.alloc(0) };
const raised: Flag = {
  resourceType: 'Flag',
  id: 'a1',
  status: 'active',
  code: { coding: [{ system: 'urn:fhir-ai-server:alert', code: 'emergency' }], text: 'Fall detected' },
  subject: { reference: 'Patient/p1' },
  period: { start: '2026-11-27T10:00:00Z' },
  extension: [{ url: GEOLOCATION_URL, extension: [{ url: 'latitude', valueDecimal: 52.37 }, { url: 'longitude', valueDecimal: 4.89 }] }],
};
const acknowledged: Flag = { ...raised, extension: [...raised.extension!, decisionExtension(ALERT_ACKNOWLEDGEMENT_URL, { by: { reference: 'Practitioner/d1' }, at: '2026-11-27T10:01:30Z' })] };
const resolved: Flag = {
  ...acknowledged,
  status: 'inactive',
  period: { ...raised.period, end: '2026-11-27T10:20:00+01:00' }, // 09:20Z would be before the start; +01:00 matters
  extension: [...acknowledged.extension!, decisionExtension(ALERT_RESOLUTION_URL, { by: { reference: 'Practitioner/d2' }, at: '2026-11-27T10:20:00+01:00' })],
};

describe('alertState', () => {
  it('reads raised, acknowledged and resolved', () => {
    expect(alertState(raised)).toEqual({ status: 'raised', raisedAt: raised.period!.start, geolocation: { latitude: 52.37, longitude: 4.89 } });
    expect(alertState(acknowledged)).toMatchObject({ status: 'acknowledged', acknowledged: { by: { reference: 'Practitioner/d1' }, at: '2026-11-27T10:01:30Z' } });
    expect(alertState(resolved)).toMatchObject({ status: 'resolved', resolved: { by: { reference: 'Practitioner/d2' } } });
  });
  it('measures seconds, refusing a wrong order', () => {
    expect(secondsBetween('2026-11-27T10:00:00Z', '2026-11-27T10:01:30.5Z')).toBe(90.5);
    expect(secondsBetween('2026-11-27T10:00:00Z', '2026-11-27T09:00:00Z')).toBeNull();
    expect(secondsBetween(undefined, '2026-11-27T09:00:00Z')).toBeNull();
  });
});

describe('emergencyAlertMapper', () => {
  it('projects the lifecycle, who and when, and response times', () => {
    expect(emergencyAlertMapper.toRows(raised, ctx)[0].values).toMatchObject({ response_status: 'raised', geolocation: { latitude: 52.37, longitude: 4.89 }, seconds_to_acknowledge: null });
    expect(emergencyAlertMapper.toRows(acknowledged, ctx)[0].values).toMatchObject({
      response_status: 'acknowledged',
      acknowledged_at: '2026-11-27T10:01:30.000Z',
      acknowledged_by: 'Practitioner/d1',
      seconds_to_acknowledge: 90,
    });
    expect(emergencyAlertMapper.toRows(resolved, ctx)[0].values).toMatchObject({
      response_status: 'resolved',
      resolved_at: '2026-11-27T09:20:00.000Z',
      resolved_by: 'Practitioner/d2',
      seconds_to_resolve: null, // end before start once the offset is applied: no response time
    });
    const ok = { ...resolved, period: { start: raised.period!.start, end: '2026-11-27T10:20:00Z' } };
    expect(emergencyAlertMapper.toRows(ok, ctx)[0].values).toMatchObject({ seconds_to_resolve: 1200, seconds_to_acknowledge: 90 });
  });
  it('cuts a long alert text to the seed column (100 characters), keeping whole characters', () => {
    const text = `${'é'.repeat(99)}😀 and more`;
    const type = emergencyAlertMapper.toRows({ ...raised, code: { ...raised.code, text } }, ctx)[0].values.alert_type as string;
    expect(Array.from(type)).toHaveLength(100);
    expect(type.endsWith('😀')).toBe(true);
  });
  it('takes no Flag that is not an emergency alert, nor one entered in error', () => {
    expect(emergencyAlertMapper.toRows({ ...raised, code: { text: 'Fall risk' } }, ctx)).toEqual([]);
    expect(emergencyAlertMapper.toRows({ ...raised, status: 'entered-in-error' }, ctx)).toEqual([]);
  });
  it('rebuilds a Flag from a row', () => {
    const flag = emergencyAlertMapper.toResource({ patient_id: 'p1', id: 'a1', alert_type: 'Fall', response_status: 'resolved', created_at: '2026-11-27 10:00:00', resolved_at: new Date('2026-11-27T10:20:00Z'), geolocation: { latitude: 1, longitude: 2 } });
    expect(flag).toMatchObject({ status: 'inactive', period: { start: '2026-11-27T10:00:00.000Z', end: '2026-11-27T10:20:00.000Z' } });
    expect(alertState(flag).geolocation).toEqual({ latitude: 1, longitude: 2 });
  });
});
