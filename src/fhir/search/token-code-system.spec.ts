import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { componentCodeSystem, tokenCodeSystem } from './token-code-system';

beforeAll(() => loadFhirDefinitions());

const GENDER = 'http://hl7.org/fhir/administrative-gender';

describe('tokenCodeSystem', () => {
  it('is the implicit system of the code element a path ends on', () => {
    expect(tokenCodeSystem('Patient.gender', 'Patient')).toBe(GENDER);
    expect(tokenCodeSystem('Patient.address.use', 'Patient')).toBe('http://hl7.org/fhir/address-use');
    expect(tokenCodeSystem('DocumentReference.relatesTo.code', 'DocumentReference')).toBe('http://hl7.org/fhir/document-relationship-type');
    expect(tokenCodeSystem('MedicationRequest.status', 'MedicationRequest')).toBe('http://hl7.org/fhir/CodeSystem/medicationrequest-status');
  });

  it('keeps the system through parentheses and a where() filter', () => {
    expect(tokenCodeSystem('(Patient.gender)', 'Patient')).toBe(GENDER);
    expect(tokenCodeSystem("Patient.address.where(city='x').use", 'Patient')).toBeUndefined(); // a step after a call: not a path
    expect(tokenCodeSystem("Patient.gender.where($this = 'male')", 'Patient')).toBe(GENDER);
  });

  it('has none where no part ends on a code element, or a code part has no single system', () => {
    expect(tokenCodeSystem('Observation.code', 'Observation')).toBeUndefined(); // CodeableConcept: its codings carry their systems
    expect(tokenCodeSystem('(Observation.value as CodeableConcept)', 'Observation')).toBeUndefined();
    expect(tokenCodeSystem('Task.intent', 'Task')).toBeUndefined(); // two systems
    expect(tokenCodeSystem('DetectedIssue.status', 'DetectedIssue')).toBeUndefined(); // observation-status and detectedissue-status
    expect(tokenCodeSystem('DocumentReference.content.attachment.language', 'DocumentReference')).toBeUndefined(); // preferred binding
  });

  it('has none when parts disagree or one cannot be read, so that no value borrows another part\'s system', () => {
    expect(tokenCodeSystem('Patient.gender | Patient.address.use', 'Patient')).toBeUndefined();
    expect(tokenCodeSystem('Patient.gender | Patient.gender.first()', 'Patient')).toBeUndefined();
    expect(tokenCodeSystem('Patient.gender | Patient.nosuch', 'Patient')).toBeUndefined();
    expect(tokenCodeSystem('Person.gender', 'Patient')).toBeUndefined();
    // A code part beside a part of another type: the code values get the system, the codings keep theirs.
    expect(tokenCodeSystem('Patient.gender | Patient.maritalStatus', 'Patient')).toBe(GENDER);
  });
});

describe('componentCodeSystem', () => {
  it('joins the composite\'s path and the component\'s', () => {
    expect(componentCodeSystem('DocumentReference.relatesTo', 'code', 'DocumentReference')).toBe('http://hl7.org/fhir/document-relationship-type');
    expect(componentCodeSystem('DocumentReference.relatesTo', 'target', 'DocumentReference')).toBeUndefined();
    expect(componentCodeSystem('Observation', 'value.as(CodeableConcept)', 'Observation')).toBeUndefined();
    expect(componentCodeSystem('Observation.where(true)', 'status', 'Observation')).toBeUndefined();
    expect(componentCodeSystem(undefined, 'code', 'DocumentReference')).toBeUndefined();
  });
});
