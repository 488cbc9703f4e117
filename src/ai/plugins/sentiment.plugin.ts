import type { Observation, Resource } from '@medplum/fhirtypes';
import type { ResourceEvent } from '../../outbox/outbox.repository';
import { AI_SOURCE, type AiPlugin, type PluginInput, type PluginOutputs, type PreparedInput } from '../ai-plugin';
import { freeTextOf } from '../features/text.features';
import type { ModelOutputs } from '../inference.service';
import type { ModelRegistry, RegisteredModel } from '../model-registry.service';
import { asOutput, provenanceOf, sourceRef } from './outputs';

export const SENTIMENT_CODE = { system: 'urn:fhir-ai-server:sentiment', code: 'score', display: 'Sentiment score (-1 negative .. +1 positive)' };

/**
 * Sentiment: feedback (a QuestionnaireResponse with a `comments` answer) and therapy-session text
 * (a Communication with payload text) get a score in [-1, 1], written as an Observation that
 * points at its source. Empty text, or text with no word the model knows, fails the job visibly.
 */
export class SentimentPlugin implements AiPlugin {
  readonly task = 'sentiment' as const;
  readonly needsObservations = false;

  constructor(private readonly registry: ModelRegistry) {}

  triggers(event: ResourceEvent, resource: Resource): boolean {
    return ['QuestionnaireResponse', 'Communication'].includes(event.resourceType) && resource.meta?.source !== AI_SOURCE && freeTextOf(resource) !== undefined;
  }

  model(): Promise<RegisteredModel | undefined> {
    return this.registry.active(this.task);
  }

  prepare(_model: RegisteredModel, input: PluginInput): PreparedInput {
    const text = freeTextOf(input.resource)?.trim();
    if (!text) return { kind: 'fail', reason: `${sourceRef(input)} has no text to score` };
    return { kind: 'run', row: { text }, basis: [], imputed: [], problems: [] };
  }

  outputs(model: RegisteredModel, input: PluginInput, _prepared: PreparedInput, out: ModelOutputs | undefined): PluginOutputs {
    const score = out?.score?.[0];
    if (typeof score !== 'number' || !Number.isFinite(score)) throw new Error(`${model.id} gave no score`);
    if (out?.matched_ngrams?.[0] === 0) throw new Error(`${sourceRef(input)}: the text holds no word the model knows (not English?); no score written`);
    const subject = (input.resource as { subject?: { reference?: string } }).subject?.reference;
    const isFeedback = input.resource.resourceType === 'QuestionnaireResponse';
    const observation = asOutput<Observation>(input, {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [SENTIMENT_CODE], text: 'Sentiment score' },
      ...(subject ? { subject: { reference: subject } } : {}),
      effectiveDateTime: new Date().toISOString(),
      device: { reference: `Device/${model.id}` },
      valueQuantity: { value: Math.round(score * 10000) / 10000, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
      ...(isFeedback ? { derivedFrom: [{ reference: sourceRef(input) }] } : { focus: [{ reference: sourceRef(input) }] }),
    });
    return { create: [observation, provenanceOf(model, observation, [sourceRef(input)])] };
  }
}
