import type { Communication, Observation, Patient, QuestionnaireResponse } from '@medplum/fhirtypes';
import { freeTextOf, ratingOf } from './free-text';

const feedback = (item: QuestionnaireResponse['item']): QuestionnaireResponse => ({
  resourceType: 'QuestionnaireResponse',
  id: 'fb1',
  status: 'completed',
  subject: { reference: 'Patient/p1' },
  item,
});
const communication = (payload: Communication['payload']): Communication => ({
  resourceType: 'Communication',
  id: 'c1',
  status: 'completed',
  subject: { reference: 'Patient/p1' },
  payload,
});

describe('freeTextOf: QuestionnaireResponse', () => {
  it('reads the comments answer', () => {
    expect(
      freeTextOf(
        feedback([
          { linkId: 'rating', answer: [{ valueInteger: 4 }] },
          { linkId: 'comments', answer: [{ valueString: 'The nurses were kind.' }] },
        ]),
      ),
    ).toBe('The nurses were kind.');
  });

  it('joins several comments answers with new lines, in order', () => {
    expect(freeTextOf(feedback([{ linkId: 'comments', answer: [{ valueString: 'Long wait.' }, { valueString: 'Friendly staff.' }] }]))).toBe('Long wait.\nFriendly staff.');
  });

  it('finds comments nested in groups and under answers', () => {
    const qr = feedback([
      { linkId: 'visit', item: [{ linkId: 'comments', answer: [{ valueString: 'In a group.' }] }] },
      {
        linkId: 'recommend',
        answer: [{ valueBoolean: true, item: [{ linkId: 'comments', answer: [{ valueString: 'Under an answer.' }] }] }],
      },
      { linkId: 'comments', answer: [{ valueString: 'At the top.' }] },
    ]);
    expect(freeTextOf(qr)).toBe('In a group.\nUnder an answer.\nAt the top.');
  });

  it('ignores other items and answers that are not strings', () => {
    expect(
      freeTextOf(
        feedback([
          { linkId: 'name', answer: [{ valueString: 'not a comment' }] },
          { linkId: 'comments', answer: [{ valueInteger: 3 }, { valueCoding: { code: 'x' } }] },
        ]),
      ),
    ).toBeUndefined();
  });

  it('is undefined without items, or with a comments item that has no answer', () => {
    expect(freeTextOf(feedback(undefined))).toBeUndefined();
    expect(freeTextOf(feedback([]))).toBeUndefined();
    expect(freeTextOf(feedback([{ linkId: 'comments' }]))).toBeUndefined();
    expect(freeTextOf(feedback([{ linkId: 'rating', answer: [{ valueInteger: 5 }] }]))).toBeUndefined();
  });
});

describe('freeTextOf: Communication', () => {
  it('reads the payload contentString', () => {
    expect(freeTextOf(communication([{ contentString: 'I slept better this week.' }]))).toBe('I slept better this week.');
  });

  it('joins several text payloads with new lines, skipping attachments and references', () => {
    expect(
      freeTextOf(
        communication([
          { contentString: 'First message.' },
          { contentAttachment: { contentType: 'image/png', url: 'http://example.org/a.png' } },
          { contentReference: { reference: 'DocumentReference/d1' } },
          { contentString: 'Second message.' },
        ]),
      ),
    ).toBe('First message.\nSecond message.');
  });

  it('is undefined without a text payload', () => {
    expect(freeTextOf(communication(undefined))).toBeUndefined();
    expect(freeTextOf(communication([]))).toBeUndefined();
    expect(freeTextOf(communication([{ contentAttachment: { url: 'http://example.org/a.pdf' } }]))).toBeUndefined();
  });
});

describe('freeTextOf: other resources', () => {
  it('is undefined for any other resource type, whatever text it holds', () => {
    const observation: Observation = { resourceType: 'Observation', status: 'final', code: { text: 'comments' }, valueString: 'text' };
    const patient: Patient = { resourceType: 'Patient', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">comments</div>' } };
    expect(freeTextOf(observation)).toBeUndefined();
    expect(freeTextOf(patient)).toBeUndefined();
    // a Communication-like payload on another type is not read
    expect(freeTextOf({ resourceType: 'CommunicationRequest', status: 'active', payload: [{ contentString: 'x' }] } as never)).toBeUndefined();
  });
});

describe('ratingOf', () => {
  it('reads the integer rating of a feedback form', () => {
    for (const r of [1, 3, 5]) {
      expect(ratingOf(feedback([{ linkId: 'rating', answer: [{ valueInteger: r }] }, { linkId: 'comments', answer: [{ valueString: 'ok' }] }]))).toBe(r);
    }
  });

  it('takes the first integer answer of the rating item', () => {
    expect(ratingOf(feedback([{ linkId: 'rating', answer: [{ valueString: 'five' }, { valueInteger: 2 }, { valueInteger: 4 }] }]))).toBe(2);
  });

  it('is undefined without a rating item or an integer answer', () => {
    expect(ratingOf(feedback([{ linkId: 'comments', answer: [{ valueString: 'no rating' }] }]))).toBeUndefined();
    expect(ratingOf(feedback([{ linkId: 'rating', answer: [{ valueString: '5' }] }]))).toBeUndefined();
    expect(ratingOf(feedback([{ linkId: 'rating' }]))).toBeUndefined();
    expect(ratingOf(feedback(undefined))).toBeUndefined();
  });

  it('is undefined for resources other than a QuestionnaireResponse', () => {
    expect(ratingOf(communication([{ contentString: 'rating 5' }]))).toBeUndefined();
    expect(ratingOf({ resourceType: 'Observation', status: 'final', code: { text: 'rating' }, valueInteger: 5 } as Observation)).toBeUndefined();
  });
});
