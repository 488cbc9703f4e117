import type { Device } from '@medplum/fhirtypes';
import { deviceMapper } from './device.mapper';
import { PREDICTIVE_MAINTENANCE_URL, predictiveExtension } from '../../../hospital/equipment/device-usage';
import { forecastMaintenance } from '../../../hospital/equipment/maintenance-forecast';

const ctx = { blindIndex: () => Buffer.alloc(0) };

describe('deviceMapper', () => {
  const forecast = forecastMaintenance({ intervalHours: 10, usages: [{ start: 0, end: 9 * 3_600_000 }], now: 10 * 3_600_000 });
  const device: Device = {
    resourceType: 'Device',
    id: 'vent-1',
    status: 'active',
    deviceName: [{ name: 'Ventilator 1', type: 'user-friendly-name' }],
    type: { coding: [{ system: 'http://snomed.info/sct', code: '706172005', display: 'Ventilator' }] },
    extension: [predictiveExtension(forecast)],
  };

  it('projects equipment with its availability and forecast', () => {
    const [row] = deviceMapper.toRows(device, ctx);
    expect(row.table).toBe('resources');
    expect(row.values).toEqual({
      id: 'vent-1',
      type: 'equipment',
      availability: { resource: 'Device/vent-1', name: 'Ventilator 1', device_type: 'Ventilator', status: 'active', available: true, reasons: [] },
      predictive_maintenance: forecast,
    });
    expect(forecast.flag).toBe(true);
  });

  it('marks inactive or offline devices unavailable, and leaves out AI models and entered-in-error', () => {
    const off = deviceMapper.toRows({ ...device, statusReason: [{ coding: [{ code: 'offline' }] }] }, ctx)[0].values.availability as { available: boolean; reasons: string[] };
    expect(off).toMatchObject({ available: false, reasons: ['statusReason offline'] });
    expect((deviceMapper.toRows({ ...device, status: 'inactive' }, ctx)[0].values.availability as { reasons: string[] }).reasons).toEqual(['status inactive']);
    expect(deviceMapper.toRows({ ...device, type: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: 'triage' }] } }, ctx)).toEqual([]);
    expect(deviceMapper.toRows({ ...device, status: 'entered-in-error' }, ctx)).toEqual([]);
  });

  it('rebuilds the Device from its row', () => {
    const back = deviceMapper.toResource({ id: 'vent-1', ...deviceMapper.toRows(device, ctx)[0].values });
    expect(back).toMatchObject({ resourceType: 'Device', id: 'vent-1', status: 'active', deviceName: [{ name: 'Ventilator 1' }], type: { text: 'Ventilator' } });
    expect(back.extension?.[0].url).toBe(PREDICTIVE_MAINTENANCE_URL);
    expect(deviceMapper.toRows(back, ctx)[0].values.predictive_maintenance).toEqual(forecast);
  });
});
