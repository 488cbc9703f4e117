import type { CarePlan } from '@medplum/fhirtypes';
import { WELLNESS_PROGRESS_URL, carePlanMapper } from './wellness.mapper';

const ctx = { blindIndex: () => Buffer.alloc(0) };
const plan: CarePlan = {
  resourceType: 'CarePlan',
  id: 'cp1',
  status: 'active',
  intent: 'plan',
  category: [{ coding: [{ system: 'urn:fhir-ai-server:care-plan', code: 'wellness' }] }],
  title: 'Stress reduction',
  description: 'Breathing',
  subject: { reference: 'Patient/p1' },
  author: { reference: 'Device/m1' },
  extension: [{ url: WELLNESS_PROGRESS_URL, valueDecimal: 0.625 }],
};

describe('carePlanMapper', () => {
  it('projects a wellness plan with its progress', () => {
    expect(carePlanMapper.toRows(plan, ctx)).toEqual([
      { table: 'wellness_plans', values: { patient_id: 'p1', id: 'cp1', plan_details: 'Stress reduction: Breathing', ai_generated: true, progress: 0.63 } },
    ]);
    expect(carePlanMapper.toRows({ ...plan, author: undefined, extension: undefined, title: undefined }, ctx)[0].values).toMatchObject({ plan_details: 'Breathing', ai_generated: false, progress: null });
  });
  it('takes no other plan', () => {
    expect(carePlanMapper.toRows({ ...plan, category: undefined }, ctx)).toEqual([]);
    expect(carePlanMapper.toRows({ ...plan, status: 'entered-in-error' }, ctx)).toEqual([]);
    expect(carePlanMapper.toRows({ ...plan, subject: { reference: 'Group/g' } }, ctx)).toEqual([]);
  });
  it('rebuilds a plan from a row', () => {
    expect(carePlanMapper.toResource({ patient_id: 'p1', id: 'cp1', plan_details: 'Walk', progress: '0.50' })).toMatchObject({
      resourceType: 'CarePlan',
      extension: [{ url: WELLNESS_PROGRESS_URL, valueDecimal: 0.5 }],
      description: 'Walk',
      subject: { reference: 'Patient/p1' },
    });
  });
});
