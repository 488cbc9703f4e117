import type { Communication, QuestionnaireResponse, RiskAssessment } from '@medplum/fhirtypes';
import { AI_SENTIMENT_EXTENSION_URL, TRIAGE_SYSTEM, feedbackMapper, therapySessionMapper, triageMapper } from './ai-output.mappers';
import { AI_MODEL_EXTENSION_URL } from './condition.mapper';
import { fakeCtx, hl7Example } from '../../../../test/helpers/mapper-fixtures';

const MODEL = 'sentiment-uci-1.0.0';
const sentiment = (value: number) => ({ url: AI_SENTIMENT_EXTENSION_URL, valueDecimal: value });
const model = (id = MODEL) => ({ url: AI_MODEL_EXTENSION_URL, valueReference: { reference: `Device/${id}` } });

const feedbackRows = (qr: QuestionnaireResponse) => feedbackMapper.toRows(qr, fakeCtx);
const sessionRows = (c: Communication) => therapySessionMapper.toRows(c, fakeCtx);
const triageRows = (ra: RiskAssessment) => triageMapper.toRows(ra, fakeCtx);

describe('feedbackMapper', () => {
  const qr = (over: Partial<QuestionnaireResponse> = {}): QuestionnaireResponse => ({
    resourceType: 'QuestionnaireResponse',
    id: 'fb1',
    status: 'completed',
    subject: { reference: 'Patient/p1' },
    authored: '2024-03-01T10:30:00+01:00',
    item: [
      { linkId: 'rating', answer: [{ valueInteger: 4 }] },
      { linkId: 'comments', answer: [{ valueString: 'Kind staff, long wait.' }] },
    ],
    ...over,
  });

  it('projects a feedback form onto feedback', () => {
    expect(feedbackRows(qr())).toEqual([
      {
        table: 'feedback',
        values: {
          patient_id: 'p1',
          id: 'fb1',
          rating: 4,
          comments: 'Kind staff, long wait.',
          sentiment_score: null,
          ai_model_id: null,
          created_at: '2024-03-01T09:30:00.000Z',
        },
      },
    ]);
  });

  it('takes the sentiment (rounded to 2 decimals) and the model from the extensions', () => {
    const [row] = feedbackRows(qr({ extension: [{ url: 'http://example.org/other', valueString: 'x' }, sentiment(0.8765), model()] }));
    expect(row.values).toMatchObject({ sentiment_score: 0.88, ai_model_id: MODEL });
    expect(feedbackRows(qr({ extension: [sentiment(-0.444)] }))[0].values).toMatchObject({ sentiment_score: -0.44, ai_model_id: null });
    expect(feedbackRows(qr({ extension: [sentiment(-1)] }))[0].values.sentiment_score).toBe(-1);
    expect(feedbackRows(qr({ extension: [sentiment(1)] }))[0].values.sentiment_score).toBe(1);
  });

  it('gives a null sentiment outside -1..1, and a null model for a reference that is not a local Device', () => {
    expect(feedbackRows(qr({ extension: [sentiment(1.5)] }))[0].values.sentiment_score).toBeNull();
    expect(feedbackRows(qr({ extension: [sentiment(-87)] }))[0].values.sentiment_score).toBeNull();
    expect(feedbackRows(qr({ extension: [{ url: AI_SENTIMENT_EXTENSION_URL, valueString: '0.5' }] }))[0].values.sentiment_score).toBeNull();
    const notDevice = { url: AI_MODEL_EXTENSION_URL, valueReference: { reference: 'Practitioner/x' } };
    expect(feedbackRows(qr({ extension: [sentiment(0.5), notDevice] }))[0].values.ai_model_id).toBeNull();
  });

  it('keeps a form with a rating only, or comments only', () => {
    expect(feedbackRows(qr({ item: [{ linkId: 'rating', answer: [{ valueInteger: 2 }] }] }))[0].values).toMatchObject({ rating: 2, comments: null });
    expect(feedbackRows(qr({ item: [{ linkId: 'comments', answer: [{ valueString: 'Fine.' }] }] }))[0].values).toMatchObject({ rating: null, comments: 'Fine.' });
  });

  it('reads nested comments and joins several', () => {
    const nested = qr({
      item: [
        { linkId: 'rating', answer: [{ valueInteger: 5 }] },
        { linkId: 'group', item: [{ linkId: 'comments', answer: [{ valueString: 'One.' }, { valueString: 'Two.' }] }] },
      ],
    });
    expect(feedbackRows(nested)[0].values.comments).toBe('One.\nTwo.');
  });

  it('gives no row without a local Patient subject, or without rating and comments', () => {
    expect(feedbackRows(qr({ subject: { reference: 'urn:uuid:6e5b6a0e-2a9f-4a31-9b64-2f06c1f0f0a1' } }))).toEqual([]);
    expect(feedbackRows(qr({ subject: { reference: 'Group/g1' } }))).toEqual([]);
    expect(feedbackRows(qr({ subject: undefined }))).toEqual([]);
    expect(feedbackRows(qr({ item: [{ linkId: 'other', answer: [{ valueString: 'x' }] }] }))).toEqual([]);
    expect(feedbackRows(qr({ item: undefined }))).toEqual([]);
  });

  it('gives no row for the HL7 QuestionnaireResponse examples (no rating or comments items)', () => {
    for (const name of ['QuestionnaireResponse-f201', 'QuestionnaireResponse-gcs', 'QuestionnaireResponse-3141', 'QuestionnaireResponse-bb']) {
      expect(feedbackRows(hl7Example<QuestionnaireResponse>(name))).toEqual([]);
    }
  });

  it('gives no row for an entered-in-error form (feedback has no status column to say it is void)', () => {
    expect(feedbackRows(qr({ status: 'entered-in-error' }))).toEqual([]);
  });

  it('rebuilds the relational face', () => {
    const [row] = feedbackRows(qr({ extension: [sentiment(0.8765), model()] }));
    expect(feedbackMapper.toResource(row.values)).toEqual({
      resourceType: 'QuestionnaireResponse',
      id: 'fb1',
      extension: [sentiment(0.88), model()],
      status: 'completed',
      subject: { reference: 'Patient/p1' },
      authored: '2024-03-01T09:30:00.000Z',
      item: [
        { linkId: 'rating', answer: [{ valueInteger: 4 }] },
        { linkId: 'comments', answer: [{ valueString: 'Kind staff, long wait.' }] },
      ],
    });
  });

  it('round-trips: toRows(toResource(row)) gives the row back', () => {
    const resources = [
      qr(),
      qr({ extension: [sentiment(0.8765), model()] }),
      qr({ extension: [sentiment(-1)] }),
      qr({ authored: undefined, item: [{ linkId: 'rating', answer: [{ valueInteger: 1 }] }] }),
      qr({ item: [{ linkId: 'x', item: [{ linkId: 'comments', answer: [{ valueString: 'a' }, { valueString: 'b' }] }] }] }),
    ];
    for (const r of resources) {
      const [row] = feedbackRows(r);
      expect(feedbackRows(feedbackMapper.toResource(row.values))).toEqual([row]);
    }
  });

  it('round-trips a row read back from the database (decimals as strings, timestamps as Dates)', () => {
    const [row] = feedbackRows(qr({ extension: [sentiment(0.8765), model()] }));
    const fromDb = { ...row.values, sentiment_score: '0.88', created_at: new Date('2024-03-01T09:30:00Z') };
    expect(feedbackRows(feedbackMapper.toResource(fromDb))).toEqual([row]);
  });

  it('round-trips the model id of a row whose sentiment is null', () => {
    const [row] = feedbackRows(qr({ extension: [sentiment(1.5), model()] }));
    expect(row.values).toMatchObject({ sentiment_score: null, ai_model_id: MODEL });
    expect(feedbackRows(feedbackMapper.toResource(row.values))).toEqual([row]);
  });
});

describe('therapySessionMapper', () => {
  const session = (over: Partial<Communication> = {}): Communication => ({
    resourceType: 'Communication',
    id: 'ts1',
    status: 'completed',
    subject: { reference: 'Patient/p1' },
    sent: '2024-04-02T15:00:00Z',
    payload: [{ contentString: 'I felt calmer this week.' }, { contentString: 'Sleep is still poor.' }],
    ...over,
  });

  it('projects a Communication with text onto therapy_sessions, payloads joined', () => {
    expect(sessionRows(session({ extension: [sentiment(-0.3333), model()] }))).toEqual([
      {
        table: 'therapy_sessions',
        values: {
          patient_id: 'p1',
          id: 'ts1',
          session_data: 'I felt calmer this week.\nSleep is still poor.',
          sentiment_analysis: -0.33,
          ai_model_id: MODEL,
          created_at: '2024-04-02T15:00:00.000Z',
        },
      },
    ]);
  });

  it('projects the HL7 Communication example (its text payload only)', () => {
    expect(sessionRows(hl7Example<Communication>('Communication-example'))).toEqual([
      {
        table: 'therapy_sessions',
        values: {
          patient_id: 'example',
          id: 'example',
          session_data: 'Patient 1 has a very high serum potassium value (7.2 mmol/L on 2014-Dec-12 at 5:55 pm)',
          sentiment_analysis: null,
          ai_model_id: null,
          created_at: '2014-12-13T02:01:10.000Z',
        },
      },
    ]);
  });

  it('gives a null sentiment outside -1..1', () => {
    expect(sessionRows(session({ extension: [sentiment(2)] }))[0].values.sentiment_analysis).toBeNull();
    expect(sessionRows(session({ extension: [sentiment(-1.01)] }))[0].values.sentiment_analysis).toBeNull();
    expect(sessionRows(session({ extension: [sentiment(0.005)] }))[0].values.sentiment_analysis).toBe(0.01);
  });

  it('gives no row without a local Patient subject or without text', () => {
    expect(sessionRows(session({ subject: { reference: 'urn:uuid:6e5b6a0e-2a9f-4a31-9b64-2f06c1f0f0a1' } }))).toEqual([]);
    expect(sessionRows(session({ subject: { reference: 'Group/g1' } }))).toEqual([]);
    expect(sessionRows(session({ payload: undefined }))).toEqual([]);
    expect(sessionRows(session({ payload: [{ contentAttachment: { url: 'http://example.org/a.pdf' } }] }))).toEqual([]);
    expect(sessionRows(hl7Example<Communication>('Communication-fm-attachment'))).toEqual([]);
  });

  it('gives no row for an entered-in-error Communication (therapy_sessions has no status column to say it is void)', () => {
    expect(sessionRows(session({ status: 'entered-in-error' }))).toEqual([]);
  });

  it('rebuilds the relational face', () => {
    const [row] = sessionRows(session({ extension: [sentiment(0.5), model()] }));
    expect(therapySessionMapper.toResource(row.values)).toEqual({
      resourceType: 'Communication',
      id: 'ts1',
      extension: [sentiment(0.5), model()],
      status: 'completed',
      subject: { reference: 'Patient/p1' },
      sent: '2024-04-02T15:00:00.000Z',
      payload: [{ contentString: 'I felt calmer this week.\nSleep is still poor.' }],
    });
  });

  it('round-trips: toRows(toResource(row)) gives the row back', () => {
    for (const c of [session(), session({ extension: [sentiment(-0.3333), model()] }), session({ sent: undefined }), hl7Example<Communication>('Communication-example')]) {
      const [row] = sessionRows(c);
      expect(sessionRows(therapySessionMapper.toResource(row.values))).toEqual([row]);
      const fromDb = { ...row.values, sentiment_analysis: row.values.sentiment_analysis === null ? null : String(row.values.sentiment_analysis) };
      expect(sessionRows(therapySessionMapper.toResource(fromDb))).toEqual([row]);
    }
  });
});

describe('triageMapper', () => {
  const triage = (over: Partial<RiskAssessment> = {}): RiskAssessment => ({
    resourceType: 'RiskAssessment',
    id: 'tr1',
    status: 'final',
    code: { coding: [{ system: TRIAGE_SYSTEM, code: 'triage' }], text: 'Triage priority' },
    subject: { reference: 'Patient/p1' },
    encounter: { reference: 'Encounter/e1' },
    occurrenceDateTime: '2024-05-01T08:15:00-04:00',
    performer: { reference: 'Device/triage-news2-1.0.0' },
    prediction: [{ outcome: { coding: [{ system: TRIAGE_SYSTEM, code: '2', display: 'priority 2' }], text: 'Priority 2' }, probabilityDecimal: 0.7 }],
    note: [{ text: 'Imputed as the model card says: temperature' }, { text: 'spo2: 150 % is implausible; treated as missing' }],
    ...over,
  });

  it('projects a triage RiskAssessment onto triage', () => {
    expect(triageRows(triage())).toEqual([
      {
        table: 'triage',
        values: {
          patient_id: 'p1',
          id: 'tr1',
          priority_score: 2,
          symptoms: 'Imputed as the model card says: temperature\nspo2: 150 % is implausible; treated as missing',
          ai_predicted: true,
          ai_model_id: 'triage-news2-1.0.0',
          created_at: '2024-05-01T12:15:00.000Z',
        },
      },
    ]);
  });

  it('takes the priority from the outcome coding of the triage system, 1..5 only', () => {
    const withCode = (system: string, code: string) => triage({ prediction: [{ outcome: { coding: [{ system: 'http://example.org', code: '9' }, { system, code }] } }] });
    for (const p of [1, 5]) expect(triageRows(withCode(TRIAGE_SYSTEM, String(p)))[0].values.priority_score).toBe(p);
    for (const code of ['0', '6', '12', '2.5', 'urgent']) expect(triageRows(withCode(TRIAGE_SYSTEM, code))[0].values.priority_score).toBeNull();
    expect(triageRows(withCode('http://example.org/other', '2'))[0].values.priority_score).toBeNull();
    expect(triageRows(triage({ prediction: undefined }))[0].values.priority_score).toBeNull();
  });

  it('is AI-predicted only with a Device performer, whose id is the model', () => {
    expect(triageRows(triage({ performer: { reference: 'Practitioner/nurse1' } }))[0].values).toMatchObject({ ai_predicted: false, ai_model_id: null });
    expect(triageRows(triage({ performer: undefined }))[0].values).toMatchObject({ ai_predicted: false, ai_model_id: null });
  });

  it('gives null symptoms without note text', () => {
    expect(triageRows(triage({ note: undefined }))[0].values.symptoms).toBeNull();
    expect(triageRows(triage({ note: [{ text: '' }] }))[0].values.symptoms).toBeNull();
  });

  it('gives no row for a RiskAssessment that is not a triage, is entered-in-error, or has no local Patient subject', () => {
    expect(triageRows(triage({ code: undefined }))).toEqual([]);
    expect(triageRows(triage({ code: { coding: [{ system: TRIAGE_SYSTEM, code: '2' }] } }))).toEqual([]);
    expect(triageRows(triage({ code: { coding: [{ system: 'http://example.org', code: 'triage' }] } }))).toEqual([]);
    expect(triageRows(triage({ status: 'entered-in-error' }))).toEqual([]);
    expect(triageRows(triage({ subject: { reference: 'urn:uuid:6e5b6a0e-2a9f-4a31-9b64-2f06c1f0f0a1' } }))).toEqual([]);
    expect(triageRows(triage({ subject: { reference: 'Group/g1' } }))).toEqual([]);
    for (const name of ['RiskAssessment-cardiac', 'RiskAssessment-prognosis', 'RiskAssessment-riskexample', 'RiskAssessment-breastcancer-risk', 'RiskAssessment-genetic']) {
      expect(triageRows(hl7Example<RiskAssessment>(name))).toEqual([]);
    }
  });

  it('keeps amended and corrected triages', () => {
    expect(triageRows(triage({ status: 'amended' }))).toHaveLength(1);
    expect(triageRows(triage({ status: 'corrected' }))).toHaveLength(1);
  });

  it('rebuilds the relational face', () => {
    const [row] = triageRows(triage());
    expect(triageMapper.toResource(row.values)).toEqual({
      resourceType: 'RiskAssessment',
      id: 'tr1',
      status: 'final',
      code: { coding: [{ system: TRIAGE_SYSTEM, code: 'triage' }], text: 'Triage priority' },
      subject: { reference: 'Patient/p1' },
      occurrenceDateTime: '2024-05-01T12:15:00.000Z',
      performer: { reference: 'Device/triage-news2-1.0.0' },
      prediction: [{ outcome: { coding: [{ system: TRIAGE_SYSTEM, code: '2' }] } }],
      note: [{ text: 'Imputed as the model card says: temperature\nspo2: 150 % is implausible; treated as missing' }],
    });
  });

  it('round-trips: toRows(toResource(row)) gives the row back', () => {
    for (const ra of [
      triage(),
      triage({ performer: { reference: 'Practitioner/nurse1' }, note: undefined }),
      triage({ prediction: undefined, occurrenceDateTime: undefined }),
      triage({ prediction: [{ outcome: { coding: [{ system: TRIAGE_SYSTEM, code: '5' }] } }] }),
    ]) {
      const [row] = triageRows(ra);
      expect(triageRows(triageMapper.toResource(row.values))).toEqual([row]);
      const fromDb = { ...row.values, created_at: row.values.created_at === null ? null : new Date(row.values.created_at as string) };
      expect(triageRows(triageMapper.toResource(fromDb))).toEqual([row]);
    }
  });
});
