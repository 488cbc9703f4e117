import { withChoiceTypes } from './choice-paths';

describe('withChoiceTypes', () => {
  const obs = {
    resourceType: 'Observation',
    valueQuantity: { value: 1, comparator: '~' },
    component: [{ code: { text: 'a' }, valueInteger: { value: 0 } }, { code: { text: 'b' }, valueCodeableConcept: { coding: [{ code: 'x' }] } }],
    effectiveDateTime: '2020',
  };

  it('names the type the resource holds, primitives in lower case, as FHIRPath and the reference validator do', () => {
    expect(withChoiceTypes(obs, 'Observation.value[x].comparator')).toBe('Observation.value.ofType(Quantity).comparator');
    expect(withChoiceTypes(obs, 'Observation.component[0].value[x].value')).toBe('Observation.component[0].value.ofType(integer).value');
    expect(withChoiceTypes(obs, 'Observation.component[1].value[x].coding[0].code')).toBe('Observation.component[1].value.ofType(CodeableConcept).coding[0].code');
    expect(withChoiceTypes(obs, 'Observation.effective[x]')).toBe('Observation.effective.ofType(dateTime)');
    expect(withChoiceTypes({ resourceType: 'Observation', _valueInteger: { value: 0 } }, 'Observation.value[x].value')).toBe('Observation.value.ofType(integer).value');
    const bundle = { resourceType: 'Bundle', entry: [{ resource: obs }] };
    expect(withChoiceTypes(bundle, 'Bundle.entry[0].resource.value[x]')).toBe('Bundle.entry[0].resource.value.ofType(Quantity)');
  });

  it('names an absent choice element without type, and leaves other paths as they are', () => {
    expect(withChoiceTypes({ resourceType: 'MedicationRequest' }, 'MedicationRequest.medication[x]')).toBe('MedicationRequest.medication');
    expect(withChoiceTypes(obs, 'Observation.code')).toBe('Observation.code');
    expect(withChoiceTypes(obs, "Patient.extension[1][url='x'].value[x]")).toBe("Patient.extension[1][url='x'].value[x]");
  });
});
