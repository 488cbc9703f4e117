import type { Extension, Observation, Resource } from '@medplum/fhirtypes';
import type { ResourceEvent } from '../../outbox/outbox.repository';
import { AI_SOURCE, ONNX_ENGINE, type AiPlugin, type PluginInput, type PluginOutputs, type PreparedInput } from '../ai-plugin';
import { freeTextOf } from '../../fhir/text/free-text';
import type { InferenceService, ModelOutputs } from '../inference.service';
import { unknownTextRefusal, wordsOf } from '../features/text.features';
import { InputRefusedError } from '../input-refused';
import type { ModelRegistry, RegisteredModel } from '../model-registry.service';
import { asOutput, provenanceOf, sourceRef } from './outputs';
import { AI_SENTIMENT_EXTENSION_URL } from '../../fhir/projection/mappers/ai-output.mappers';
import { AI_MODEL_EXTENSION_URL } from '../../fhir/projection/mappers/condition.mapper';

export const SENTIMENT_CODE = { system: 'urn:fhir-ai-server:sentiment', code: 'score', display: 'Sentiment score (-1 negative .. +1 positive)' };

/**
 * Sentiment: feedback (a QuestionnaireResponse with a `comments` answer) and therapy-session text
 * (a Communication with payload text) get a score in [-1, 1], written as an Observation that
 * points at its source. Empty text, or text too little of which the model knows (evidently not
 * English: text.features.ts), fails the job at once, visibly, with the reason.
 */
export class SentimentPlugin implements AiPlugin {
  readonly task = 'sentiment' as const;
  /** Queued: the score is a new Observation (and a write-back to the text's resource), after the text is stored. */
  readonly runs = 'queued' as const;
  readonly engine = ONNX_ENGINE;
  readonly resourceTypes = ['QuestionnaireResponse', 'Communication'];
  readonly needsObservations = false;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly inference: Pick<InferenceService, 'runTexts'>,
  ) {}

  triggers(event: ResourceEvent, resource: Resource): boolean {
    return ['QuestionnaireResponse', 'Communication'].includes(event.resourceType) && freeTextOf(resource) !== undefined;
  }

  model(): Promise<RegisteredModel | undefined> {
    return this.registry.active(this.task);
  }

  /**
   * The words of the text the version knows (`knownWords`): each distinct word run through the
   * model alone, in one batch; a word is known when it matches a vocabulary n-gram. A version
   * without the `matched_ngrams` output cannot say: nothing is returned and nothing is refused.
   */
  async context(resource: Resource, model: RegisteredModel): Promise<Record<string, unknown>> {
    const words = [...new Set(wordsOf(freeTextOf(resource) ?? ''))];
    if (!words.length || !model.manifest.outputs.some((o) => o.name === 'matched_ngrams')) return {};
    const out = await this.inference.runTexts(model.manifest, model.sha256, model.bytes, words);
    return { knownWords: words.filter((_, i) => (out.matched_ngrams?.[i] ?? 0) > 0) };
  }

  prepare(_model: RegisteredModel, input: PluginInput): PreparedInput {
    const text = freeTextOf(input.resource)?.trim();
    if (!text) return { kind: 'fail', reason: `${sourceRef(input)} has no text to score` };
    // Evidently not English, or too little of it known: a score would rest on a few stray words.
    const known = input.context?.knownWords;
    const refusal = Array.isArray(known) ? unknownTextRefusal(wordsOf(text), new Set(known as string[])) : undefined;
    if (refusal) return { kind: 'fail', reason: `${sourceRef(input)}: ${refusal}; no score written` };
    return { kind: 'run', row: { text }, basis: [], imputed: [], problems: [] };
  }

  outputs(model: RegisteredModel, input: PluginInput, _prepared: PreparedInput, out: ModelOutputs | undefined): PluginOutputs {
    const score = out?.score?.[0];
    if (typeof score !== 'number' || !Number.isFinite(score)) throw new Error(`${model.id} gave no score`);
    if (out?.matched_ngrams?.[0] === 0) throw new InputRefusedError(`${sourceRef(input)}: the text holds no word the model knows (not English?); no score written`);
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
    // The score also goes back onto the text's resource, which projects it to feedback / therapy_sessions.
    const others = ((input.resource as { extension?: Extension[] }).extension ?? []).filter((e) => e.url !== AI_SENTIMENT_EXTENSION_URL && e.url !== AI_MODEL_EXTENSION_URL);
    const update = {
      ...input.resource,
      meta: { ...(input.resource.meta ?? {}), source: AI_SOURCE },
      extension: [...others, { url: AI_SENTIMENT_EXTENSION_URL, valueDecimal: Math.round(score * 10000) / 10000 }, { url: AI_MODEL_EXTENSION_URL, valueReference: { reference: `Device/${model.id}` } }],
    } as Resource;
    return { create: [observation, provenanceOf(model, observation, [sourceRef(input)])], update };
  }
}
