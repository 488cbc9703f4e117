import type { Task } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../fhir/operation-outcome';
import { recommendationView } from '../recommendations/recommendation-view';
import { cardOf, cardsOf, cardUuid, suggestionUuid } from './cds-cards';
import { normalFhirBase, parseFeedback, parseHookRequest } from './cds-request';
import { AI_RECOMMENDATIONS_SERVICE } from './cds-services';

const NOW = new Date('2026-11-27T01:00:00.000Z');
const TASK_ID = '6f1c1f2e-7d0b-4b8e-9a55-3c2b1d0e9f11';

const task = (over: Partial<Task> = {}): Task => ({
  resourceType: 'Task',
  id: TASK_ID,
  status: 'requested',
  intent: 'proposal',
  priority: 'routine',
  code: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: 'recommendation' }] },
  for: { reference: 'Patient/p1' },
  authoredOn: '2026-11-26T10:00:00.000Z',
  requester: { reference: 'Device/cad-cleveland-1.0.0' },
  description: 'Review the diagnosis of coronary heart disease',
  ...over,
});
const model = { id: 'cad-cleveland-1.0.0', name: 'cad-cleveland', version: '1.0.0', task: 'diagnosis-confidence', status: 'active' };
const viewOf = (t: Task, status = 'active') => recommendationView({ task: t, model: { ...model, status }, basis: new Map() });

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    expect((e as OperationOutcomeError).status).toBe(400);
    return (e as OperationOutcomeError).outcome.issue.map((i) => i.diagnostics as string);
  }
  throw new Error('expected a 400');
}

describe('parseHookRequest', () => {
  const ok = { hook: 'patient-view', hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea', context: { userId: 'Practitioner/dr1', patientId: 'p1' } };

  it('takes a minimal patient-view request and one with fhirServer, fhirAuthorization and prefetch', () => {
    expect(parseHookRequest(ok, AI_RECOMMENDATIONS_SERVICE).context.patientId).toBe('p1');
    const full = {
      ...ok,
      fhirServer: 'https://ehr.example.org/fhir',
      fhirAuthorization: { access_token: 'a', token_type: 'Bearer', expires_in: 300, scope: 'user/Patient.read', subject: 'cds' },
      prefetch: { patient: { resourceType: 'Patient', id: 'p1' } },
    };
    expect(parseHookRequest(full, AI_RECOMMENDATIONS_SERVICE).fhirServer).toBe('https://ehr.example.org/fhir');
  });

  it('names every problem', () => {
    expect(problems(() => parseHookRequest({ hook: 'order-sign', context: { userId: 'Observation/1' } }, AI_RECOMMENDATIONS_SERVICE))).toEqual([
      expect.stringMatching(/hook must be "patient-view"/),
      expect.stringMatching(/hookInstance must be a UUID/),
      expect.stringMatching(/context.userId/),
      expect.stringMatching(/context.patientId/),
    ]);
    expect(problems(() => parseHookRequest(null, AI_RECOMMENDATIONS_SERVICE))).toEqual([expect.stringMatching(/JSON object/)]);
  });
});

describe('parseFeedback', () => {
  it('reads accepted and overridden entries', () => {
    expect(
      parseFeedback({
        feedback: [
          { card: TASK_ID, outcome: 'accepted', acceptedSuggestions: [{ id: 'x' }], outcomeTimestamp: '2026-11-27T01:00:00Z' },
          { card: TASK_ID, outcome: 'overridden', overrideReason: { userComment: 'no' }, outcomeTimestamp: '2026-11-27T01:00:00.123+01:00' },
        ],
      }),
    ).toEqual([
      { card: TASK_ID, outcome: 'accepted', acceptedSuggestions: ['x'], outcomeTimestamp: '2026-11-27T01:00:00Z' },
      { card: TASK_ID, outcome: 'overridden', acceptedSuggestions: [], overrideReason: { userComment: 'no' }, outcomeTimestamp: '2026-11-27T01:00:00.123+01:00' },
    ]);
  });

  it('refuses what the specification does not allow', () => {
    expect(problems(() => parseFeedback({ feedback: [{ card: TASK_ID, outcome: 'accepted', overrideReason: {}, outcomeTimestamp: '2026-11-27' }] }))).toEqual([
      expect.stringMatching(/outcomeTimestamp/),
      expect.stringMatching(/overrideReason goes with the outcome "overridden" only/),
    ]);
  });
});

describe('cards', () => {
  it('makes one card per recommendation with Accept and Reject suggestions whose actions update the Task', () => {
    const card = cardOf(task(), viewOf(task()), 'Practitioner/dr1', NOW);
    expect(card).toMatchObject({ uuid: TASK_ID, indicator: 'info', selectionBehavior: 'at-most-one', source: { topic: { code: 'diagnosis-confidence' } } });
    expect(card.suggestions?.map((s) => [s.label, s.uuid, s.actions[0].resource.status, s.actions[0].resource.owner?.reference])).toEqual([
      ['Accept', suggestionUuid(TASK_ID, 'approve'), 'accepted', 'Practitioner/dr1'],
      ['Reject', suggestionUuid(TASK_ID, 'reject'), 'rejected', 'Practitioner/dr1'],
    ]);
    // Without a Practitioner as the user, the actions set no owner.
    expect(cardOf(task(), viewOf(task()), 'PractitionerRole/r1', NOW).suggestions?.[0].actions[0].resource.owner).toBeUndefined();
    // A patient (or related person) viewing the record is shown the card, with nothing to decide.
    const forPatient = cardOf(task(), viewOf(task()), 'Patient/p1', NOW);
    expect([forPatient.summary, forPatient.suggestions, forPatient.selectionBehavior]).toEqual([card.summary, undefined, undefined]);
  });

  it('keeps the summary under 140 characters and flags a retired model', () => {
    const long = task({ description: 'x'.repeat(300) });
    const card = cardOf(long, viewOf(long, 'retired'), 'Practitioner/dr1', NOW);
    expect(card.summary.length).toBeLessThan(140);
    expect(card.summary).toMatch(/\[retired model\]$/);
    expect(card.detail).toMatch(/\*\*Warning:\*\* .*retired/);
  });

  it('sets the indicator by priority and puts the most urgent first', () => {
    const entries = (['routine', 'stat', 'asap'] as const).map((priority, i) => {
      const t = task({ id: `t${i}`, priority });
      return { task: t, view: viewOf(t) };
    });
    expect(cardsOf(entries, 'Practitioner/dr1', NOW).map((c) => c.indicator)).toEqual(['critical', 'warning', 'info']);
  });

  it('gives stable uuids: the Task id when it is a UUID, a name-based UUID otherwise', () => {
    expect(cardUuid(TASK_ID)).toBe(TASK_ID);
    expect(cardUuid('t1')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(cardUuid('t1')).toBe(cardUuid('t1'));
    expect(suggestionUuid('t1', 'approve')).not.toBe(suggestionUuid('t1', 'reject'));
  });
});

describe('normalFhirBase', () => {
  it('compares a fhirServer with a connection base URL as the connections store theirs', () => {
    expect(normalFhirBase('https://EHR.Example.org:443/fhir/')).toBe('https://ehr.example.org/fhir');
    expect(normalFhirBase(' http://127.0.0.1:8080/r4 ')).toBe('http://127.0.0.1:8080/r4');
    expect(normalFhirBase('https://ehr.example.org/fhir')).not.toBe(normalFhirBase('https://ehr.example.org/fhir/r4'));
  });
});
