import type { Observation } from '@medplum/fhirtypes';
import { LOINC, observationMapper, observationTable, SNOMED_CT } from './observation.mapper';
import { INTERVENTION_SUGGESTED_URL } from './wellness.mapper';
import { describeSynthea, fakeCtx, hl7Example, localize, syntheaResources } from '../../../../test/helpers/mapper-fixtures';

const rowsOf = (o: Observation) => observationMapper.toRows(o, fakeCtx);
const roundTrip = (o: Observation) => observationMapper.toResource(rowsOf(o)[0].values);

const stressLevel: Observation = {
  resourceType: 'Observation',
  id: 'stress-1',
  status: 'final',
  code: { coding: [{ system: LOINC, code: '93038-8', display: 'Stress level' }] },
  subject: { reference: 'Patient/example' },
  effectiveDateTime: '2022-03-29T22:38:59+00:00',
  valueCodeableConcept: { coding: [{ system: LOINC, code: 'LA13863-8', display: 'A little bit' }] },
};

describe('observationMapper', () => {
  it('sends a vital-signs panel (LOINC 85353-1) to icu_monitoring', () => {
    const panel = hl7Example<Observation>('Observation-vitals-panel');
    expect(rowsOf(panel)).toEqual([
      {
        table: 'icu_monitoring',
        values: {
          patient_id: 'example',
          id: 'vitals-panel',
          vital_signs: {
            code: '85353-1',
            system: LOINC,
            display: 'Vital signs Panel',
            members: ['Observation/respiratory-rate', 'Observation/heart-rate', 'Observation/blood-pressure', 'Observation/body-temperature'],
          },
          alerts: null,
          timestamp: '1999-07-02T00:00:00.000Z',
        },
      },
    ]);
    expect(roundTrip(panel)).toEqual({
      resourceType: 'Observation',
      id: 'vitals-panel',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '85353-1' }], text: 'Vital signs Panel' },
      subject: { reference: 'Patient/example' },
      effectiveDateTime: '1999-07-02T00:00:00.000Z',
      hasMember: panel.hasMember!.map(({ reference }) => ({ reference })),
    });
  });

  it('keeps the components of a panel as an array of readings', () => {
    const bp = hl7Example<Observation>('Observation-blood-pressure');
    const panel: Observation = { ...bp, code: { coding: [{ system: LOINC, code: '85353-1' }] } };
    const [row] = rowsOf(panel);
    expect(row.table).toBe('icu_monitoring');
    expect((row.values.vital_signs as { components: unknown[] }).components).toEqual([
      { code: '8480-6', system: LOINC, display: 'Systolic blood pressure', type: 'Quantity', value: 107, unit: 'mmHg' },
      { code: '8462-4', system: LOINC, display: 'Diastolic blood pressure', type: 'Quantity', value: 60, unit: 'mmHg' },
    ]);
    expect(roundTrip(panel).component).toEqual([
      { code: { coding: [{ system: LOINC, code: '8480-6' }], text: 'Systolic blood pressure' }, valueQuantity: { value: 107, unit: 'mmHg' } },
      { code: { coding: [{ system: LOINC, code: '8462-4' }], text: 'Diastolic blood pressure' }, valueQuantity: { value: 60, unit: 'mmHg' } },
    ]);
  });

  it('sends a device reading to monitoring_data', () => {
    const sat = hl7Example<Observation>('Observation-satO2');
    expect(rowsOf(sat)).toEqual([
      {
        table: 'monitoring_data',
        values: {
          patient_id: 'example',
          id: 'satO2',
          device_type: 'DeviceMetric/example',
          readings: { code: '2708-6', system: LOINC, display: 'Oxygen saturation in Arterial blood', type: 'Quantity', value: 95, unit: '%' },
          timestamp: '2014-12-05T08:30:10.000Z',
          anomaly_alert: false,
        },
      },
    ]);
    expect(roundTrip(sat)).toEqual({
      resourceType: 'Observation',
      id: 'satO2',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '2708-6' }], text: 'Oxygen saturation in Arterial blood' },
      subject: { reference: 'Patient/example' },
      effectiveDateTime: '2014-12-05T08:30:10.000Z',
      valueQuantity: { value: 95, unit: '%' },
      device: { display: 'DeviceMetric/example' },
    });
  });

  it('keeps sampled data of a device (the EKG example)', () => {
    const ekg = hl7Example<Observation>('Observation-ekg');
    const [row] = rowsOf(ekg);
    expect(row.values.device_type).toBe('12 lead EKG Device Metric');
    expect(roundTrip(ekg).component).toEqual(
      ekg.component!.map((c) => ({ code: { coding: [{ system: c.code.coding![0].system, code: c.code.coding![0].code }], text: c.code.coding![0].display }, valueSampledData: c.valueSampledData })),
    );
  });

  it('sends stress observations to stress_data, from a wearable too', () => {
    expect(rowsOf(stressLevel)).toEqual([
      {
        table: 'stress_data',
        values: {
          patient_id: 'example',
          id: 'stress-1',
          readings: { code: '93038-8', system: LOINC, display: 'Stress level', type: 'CodeableConcept', value: 'A little bit', valueCode: 'LA13863-8', valueSystem: LOINC },
          intervention_suggested: false,
          timestamp: '2022-03-29T22:38:59.000Z',
        },
      },
    ]);
    expect(roundTrip(stressLevel)).toEqual({
      ...stressLevel,
      code: { coding: [{ system: LOINC, code: '93038-8' }], text: 'Stress level' },
      effectiveDateTime: '2022-03-29T22:38:59.000Z',
      valueCodeableConcept: { coding: [{ system: LOINC, code: 'LA13863-8' }], text: 'A little bit' },
    });
    const wearable: Observation = {
      ...stressLevel,
      code: { coding: [{ system: SNOMED_CT, code: '73595000' }] },
      device: { reference: 'Device/watch' },
      valueCodeableConcept: undefined,
      valueInteger: 42,
    };
    expect(rowsOf(wearable)[0]).toMatchObject({ table: 'stress_data', values: { readings: { code: '73595000', type: 'integer', value: 42 } } });
    expect(roundTrip(wearable).valueInteger).toBe(42);
  });

  it("copies the stress rule's decision onto stress_data.intervention_suggested", () => {
    const decided = (suggested: boolean): Observation => ({
      ...stressLevel,
      extension: [{ url: INTERVENTION_SUGGESTED_URL, extension: [{ url: 'suggested', valueBoolean: suggested }, { url: 'rule', valueString: 'stress-intervention/1' }] }],
    });
    expect(rowsOf(decided(true))[0].values.intervention_suggested).toBe(true);
    expect(rowsOf(decided(false))[0].values.intervention_suggested).toBe(false);
  });

  it('gives no row for labs, single vital signs without a device, and voided readings', () => {
    for (const name of ['Observation-f001', 'Observation-heart-rate', 'Observation-blood-pressure', 'Observation-bmi', 'Observation-example']) {
      expect(rowsOf(hl7Example(name))).toEqual([]);
    }
    expect(rowsOf({ ...hl7Example<Observation>('Observation-satO2'), status: 'entered-in-error' })).toEqual([]);
    expect(observationTable({ ...stressLevel, status: 'cancelled' })).toBeUndefined();
  });

  it('gives no row for the AI\'s own scores, whose device is the model that made them', () => {
    const score: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'urn:fhir-ai-server:sentiment', code: 'score' }] },
      subject: { reference: 'Patient/p1' },
      device: { reference: 'Device/sentiment-uci-1.0.0' },
      valueQuantity: { value: 0.8 },
    };
    expect(observationTable(score)).toBeUndefined();
    expect(observationTable({ ...score, code: { coding: [{ system: LOINC, code: '8867-4' }] } })).toBe('monitoring_data');
  });

  it('gives no row when the subject is not a local Patient', () => {
    expect(rowsOf({ ...hl7Example<Observation>('Observation-satO2'), subject: { reference: 'urn:uuid:4f9c7c6e-0b9a-4a55-9d0f-1b9a8c1d2e3f' } })).toEqual([]);
    expect(rowsOf({ ...stressLevel, subject: { reference: 'Group/herd1' } })).toEqual([]);
  });

  it('takes the timestamp from effectivePeriod.start, effectiveInstant or issued', () => {
    const { effectiveDateTime: _, ...base } = stressLevel;
    expect(rowsOf({ ...base, effectivePeriod: { start: '2020-01-02T03:04:05Z' } })[0].values.timestamp).toBe('2020-01-02T03:04:05.000Z');
    expect(rowsOf({ ...base, effectiveInstant: '2020-01-02T03:04:05.5+01:00' })[0].values.timestamp).toBe('2020-01-02T02:04:05.500Z');
    expect(rowsOf({ ...base, issued: '2020-01-02T03:04:05Z' })[0].values.timestamp).toBe('2020-01-02T03:04:05.000Z');
    expect(rowsOf(base)[0].values.timestamp).toBeNull();
  });
});

describeSynthea('observationMapper on Synthea observations', () => {
  const observations = syntheaResources<Observation>('Observation');

  it('gives no row for Synthea labs, vitals and surveys (no device, panel or stress code)', () => {
    expect(observations.length).toBeGreaterThan(1000);
    for (const o of observations) expect(rowsOf(localize(o))).toEqual([]);
  });

  it('sends a Synthea vital sign to monitoring_data once a device took it, and round-trips it', () => {
    const height = localize(observations.find((o) => o.id === 'af5597a6-304d-4c8f-b596-60d17d445714')!);
    expect(rowsOf({ ...height, subject: { reference: 'urn:uuid:018f428e-34f6-4707-8009-5ad742f901e7' }, device: { display: 'stadiometer' } })).toEqual([]);
    const measured: Observation = { ...height, device: { display: 'stadiometer' } };
    const [row] = rowsOf(measured);
    expect(row).toEqual({
      table: 'monitoring_data',
      values: {
        patient_id: '018f428e-34f6-4707-8009-5ad742f901e7',
        id: height.id,
        device_type: 'stadiometer',
        readings: { code: '8302-2', system: LOINC, display: 'Body Height', type: 'Quantity', value: 176.35499866729558, unit: 'cm' },
        timestamp: '2011-10-14T23:37:54.000Z',
        anomaly_alert: false,
      },
    });
    expect(observationMapper.toResource({ ...row.values, timestamp: new Date('2011-10-14T23:37:54Z') })).toMatchObject({
      code: { coding: [{ system: LOINC, code: '8302-2' }], text: 'Body Height' },
      subject: measured.subject,
      effectiveDateTime: '2011-10-14T23:37:54.000Z',
      valueQuantity: { value: 176.35499866729558, unit: 'cm' },
    });
  });
});
