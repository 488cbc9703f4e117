import { PROJECTION_TABLES } from '../projection';
import { MAPPERS } from './index';

describe('MAPPERS', () => {
  it('has one mapper per resource type, each writing only tables the writer knows', () => {
    expect([...MAPPERS.keys()].sort()).toEqual(['Appointment', 'CarePlan', 'Claim', 'Communication', 'Condition', 'Device', 'Encounter', 'Flag', 'Location', 'Medication', 'MedicationAdministration', 'MedicationRequest', 'MedicationStatement', 'Observation', 'Patient', 'Practitioner', 'QuestionnaireResponse', 'RiskAssessment', 'Task']);
    for (const [type, mapper] of MAPPERS) {
      expect(mapper.resourceType).toBe(type);
      for (const table of mapper.tables) expect(PROJECTION_TABLES[table]).toBeDefined();
    }
  });
});
