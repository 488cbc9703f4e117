import type { Observation } from '@medplum/fhirtypes';
import { fakeCtx } from '../../../../test/helpers/mapper-fixtures';
import { anomalyExtension, anomalyFlagOf, icuAlertsOf } from './anomaly-flag';
import { observationMapper } from './observation.mapper';

const panel = (extension?: Observation['extension']): Observation => ({
  resourceType: 'Observation',
  id: 'panel1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '85353-1' }] },
  subject: { reference: 'Patient/p1' },
  component: [{ code: { coding: [{ system: 'http://loinc.org', code: '59408-5' }] }, valueQuantity: { value: 85, code: '%' } }],
  ...(extension ? { extension } : {}),
});

describe('the anomaly verdict on a reading', () => {
  const verdict = { flagged: true, score: 0.93, assessment: 'RiskAssessment/ra1', model: 'Device/vitals-anomaly-1.0.0' };

  it('round-trips through its extension; an unscored reading has none', () => {
    expect(anomalyFlagOf({ extension: [anomalyExtension(verdict)] })).toEqual(verdict);
    expect(anomalyFlagOf({ extension: [anomalyExtension({ flagged: false })] })).toEqual({ flagged: false });
    expect(anomalyFlagOf({})).toBeUndefined();
  });

  it('becomes icu_monitoring.alerts when flagged, null otherwise', () => {
    expect(icuAlertsOf(panel([anomalyExtension(verdict)]))).toEqual([{ type: 'anomaly', score: 0.93, assessment: 'RiskAssessment/ra1', model: 'Device/vitals-anomaly-1.0.0' }]);
    expect(icuAlertsOf(panel([anomalyExtension({ flagged: false, score: 0.1 })]))).toBeNull();
    expect(observationMapper.toRows(panel([anomalyExtension(verdict)]), fakeCtx)[0]).toMatchObject({ table: 'icu_monitoring', values: { alerts: [{ type: 'anomaly' }] } });
    expect(observationMapper.toRows(panel(), fakeCtx)[0].values.alerts).toBeNull();
  });
});
