import type { DeviceUseStatement } from '@medplum/fhirtypes';
import { usageDeviceId, usagePeriod } from './device-usage';

const s = (extra: Partial<DeviceUseStatement>): DeviceUseStatement => ({
  resourceType: 'DeviceUseStatement',
  status: 'completed',
  subject: { reference: 'Patient/p' },
  device: { reference: 'Device/d1' },
  ...extra,
});
const NOW = Date.parse('2026-11-27T12:00:00Z');

describe('usagePeriod / usageDeviceId', () => {
  it('takes timingPeriod; an active statement without end runs until now; ends in the future are cut at now', () => {
    expect(usagePeriod(s({ timingPeriod: { start: '2026-11-27T08:00:00Z', end: '2026-11-27T10:00:00Z' } }), NOW)).toEqual({ start: Date.parse('2026-11-27T08:00:00Z'), end: Date.parse('2026-11-27T10:00:00Z') });
    expect(usagePeriod(s({ status: 'active', timingPeriod: { start: '2026-11-27T08:00:00Z' } }), NOW)?.end).toBe(NOW);
    expect(usagePeriod(s({ timingPeriod: { start: '2026-11-27T11:00:00Z', end: '2026-11-28T00:00:00Z' } }), NOW)?.end).toBe(NOW);
  });
  it('gives no hours for untimed, intended or entered-in-error statements, or an end before the start', () => {
    expect(usagePeriod(s({ timingDateTime: '2026-11-27T08:00:00Z' }), NOW)).toBeUndefined();
    expect(usagePeriod(s({ status: 'intended', timingPeriod: { start: '2026-11-27T08:00:00Z', end: '2026-11-27T09:00:00Z' } }), NOW)).toBeUndefined();
    expect(usagePeriod(s({ status: 'entered-in-error', timingPeriod: { start: '2026-11-27T08:00:00Z', end: '2026-11-27T09:00:00Z' } }), NOW)).toBeUndefined();
    expect(usagePeriod(s({ timingPeriod: { start: '2026-11-27T09:00:00Z', end: '2026-11-27T08:00:00Z' } }), NOW)).toBeUndefined();
  });
  it('reads the local Device id, versioned or not', () => {
    expect(usageDeviceId(s({}))).toBe('d1');
    expect(usageDeviceId(s({ device: { reference: 'Device/d2/_history/3' } }))).toBe('d2');
    expect(usageDeviceId(s({ device: { reference: 'http://elsewhere/Device/d3' } }))).toBeUndefined();
  });
});
