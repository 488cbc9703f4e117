import type { CodeableConcept, Condition, RiskAssessment } from '@medplum/fhirtypes';
import type { ResourceEvent } from '../../outbox/outbox.repository';
import { AI_CONFIDENCE_EXTENSION_URL, AI_MODEL_EXTENSION_URL } from '../../fhir/projection/mappers/condition.mapper';
import { AI_SOURCE, ONNX_ENGINE, type AiPlugin, type PluginInput, type PluginOutputs, type PreparedInput } from '../ai-plugin';
import type { ModelOutputs } from '../inference.service';
import type { ModelRegistry, RegisteredModel } from '../model-registry.service';
import { asAiResource, asOutput, prepareTabular, provenanceOf, sourceRef, tabularNotes } from './outputs';
import { recommendationsFor, supersededBy } from '../recommendation-rules';
import type { PendingRecommendation, PendingRecommendations } from './pending-recommendations';
import { tabularObservationCodes } from '../features/tabular.features';

/** A Condition in one of these states is not (or no longer) a diagnosis to weigh: no new prediction. */
const CLOSED_CLINICAL = new Set(['inactive', 'remission', 'resolved']);
const VOID_VERIFICATION = new Set(['entered-in-error', 'refuted']);

/**
 * Diagnosis confidence: a Condition whose code has an active diagnosis model gets a RiskAssessment
 * (condition, basis, probability) and the probability on the Condition itself (which projects it
 * to diagnoses.confidence_score). Each new version of the Condition is scored again (its inputs
 * may have changed) and its RiskAssessment supersedes the AI's recommendations still pending on the
 * Condition (cancelled); a resolved, inactive or in-remission Condition, or one entered in error or
 * refuted, is not scored at all.
 */
export class DiagnosisPlugin implements AiPlugin {
  readonly task = 'diagnosis-confidence' as const;
  /** Queued: its outputs are new resources (and a write-back to the Condition), which nothing in the Condition's own write waits for. */
  readonly runs = 'queued' as const;
  readonly engine = ONNX_ENGINE;
  readonly resourceTypes = ['Condition'];
  readonly needsObservations = true;

  observationCodes(model: RegisteredModel): readonly string[] {
    return tabularObservationCodes(model.manifest);
  }

  /** `pending`: where the recommendations a new prediction supersedes are read (none without it). */
  constructor(
    private readonly registry: ModelRegistry,
    private readonly pending?: PendingRecommendations,
  ) {}

  async triggers(event: ResourceEvent, resource: Condition): Promise<boolean> {
    if (event.resourceType !== 'Condition' || !event.patientId || !isOpen(resource)) return false;
    const active = await this.registry.activeConditions();
    return conditionCodes(resource).some((c) => active.has(c));
  }

  async model(resource: Condition): Promise<RegisteredModel | undefined> {
    for (const c of conditionCodes(resource)) {
      const m = await this.registry.active(this.task, c);
      if (m) return m;
    }
    return undefined;
  }

  /** The AI's pending recommendations on this Condition, which this job's output supersedes. */
  async context(resource: Condition): Promise<Record<string, unknown>> {
    return { pending: this.pending ? await this.pending.focusing(`Condition/${resource.id}`) : [] };
  }

  prepare(model: RegisteredModel, input: PluginInput): PreparedInput {
    return prepareTabular(model, input, 'inputs', (min) => `the model card asks for at least ${min}`);
  }

  outputs(model: RegisteredModel, input: PluginInput, prepared: PreparedInput, out: ModelOutputs | undefined): PluginOutputs {
    if (prepared.kind === 'fail') throw new Error(prepared.reason);
    const condition = input.resource as Condition;
    const probability = out?.probability?.[0];
    const notes = tabularNotes(prepared, 'Too little is known for a meaningful estimate');
    const assessment = asOutput<RiskAssessment>(input, {
      resourceType: 'RiskAssessment',
      status: 'final',
      subject: { reference: `Patient/${input.patient?.id ?? input.job.patientId}` },
      condition: { reference: sourceRef(input) },
      occurrenceDateTime: new Date().toISOString(),
      performer: { reference: `Device/${model.id}` },
      method: { text: `${model.manifest.title} (${model.manifest.name} ${model.manifest.version})` },
      basis: [...new Set([sourceRef(input), ...prepared.basis])].map((reference) => ({ reference })),
      // Without enough inputs there is no prediction at all, only the note saying why.
      ...(prepared.kind === 'run' && typeof probability === 'number' ? { prediction: [{ outcome: outcomeOf(condition, model), probabilityDecimal: round(probability) }] } : {}),
      ...(notes.length ? { note: notes.map((text) => ({ text })) } : {}),
    });
    const create = [
      assessment,
      provenanceOf(model, assessment, [sourceRef(input), ...prepared.basis]),
      ...recommendationsFor(model.manifest, { reference: `Device/${model.id}` }, assessment).map(asAiResource),
    ];
    const pending = (input.context?.pending ?? []) as PendingRecommendation[];
    const versionOf = new Map(pending.map((p) => [p.task.id, p.versionId]));
    const supersede = supersededBy(pending.map((p) => p.task), assessment).map((resource) => ({ resource, versionId: versionOf.get(resource.id as string) as number }));
    const also = supersede.length ? { supersede } : {};
    if (prepared.kind !== 'run' || typeof probability !== 'number') return { create, ...also };
    const others = (condition.extension ?? []).filter((e) => e.url !== AI_CONFIDENCE_EXTENSION_URL && e.url !== AI_MODEL_EXTENSION_URL);
    const update: Condition = {
      ...condition,
      meta: { ...(condition.meta ?? {}), source: AI_SOURCE },
      extension: [
        ...others,
        { url: AI_CONFIDENCE_EXTENSION_URL, valueDecimal: round(probability) },
        { url: AI_MODEL_EXTENSION_URL, valueReference: { reference: `Device/${model.id}` } },
      ],
    };
    return { create, update, ...also };
  }
}

/** Whether the Condition is one to weigh: not resolved, inactive or in remission, not entered in error or refuted. */
function isOpen(c: Condition): boolean {
  const clinical = c.clinicalStatus?.coding?.map((x) => x.code) ?? [];
  const verification = c.verificationStatus?.coding?.map((x) => x.code) ?? [];
  return !clinical.some((code) => code && CLOSED_CLINICAL.has(code)) && !verification.some((code) => code && VOID_VERIFICATION.has(code));
}

function conditionCodes(c: Condition): string[] {
  return (c.code?.coding ?? []).filter((x) => x.system && x.code).map((x) => `${x.system}|${x.code}`);
}

function round(p: number): number {
  return Math.round(p * 10000) / 10000;
}

/** The predicted outcome: the Condition's code, named (its text, else a coding's display, else the model card's name of the condition) so that a reader sees words. */
function outcomeOf(condition: Condition, model: RegisteredModel): CodeableConcept | undefined {
  const code = condition.code;
  const text = code?.text ?? code?.coding?.find((c) => c.display)?.display ?? model.manifest.condition?.display;
  return code ? { ...code, ...(text ? { text } : {}) } : undefined;
}
