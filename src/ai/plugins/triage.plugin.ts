import type { Encounter, Observation, RiskAssessment, Task } from '@medplum/fhirtypes';
import type { ResourceEvent } from '../../outbox/outbox.repository';
import type { ResourceStore } from '../../fhir/store/resource-store.repository';
import { ONNX_ENGINE, type AiPlugin, type PluginInput, type PluginOutputs, type PreparedInput } from '../ai-plugin';
import type { ModelOutputs } from '../inference.service';
import type { ModelRegistry, RegisteredModel } from '../model-registry.service';
import { asAiResource, asOutput, prepareTabular, provenanceOf, sourceRef, tabularNotes } from './outputs';
import { recommendationsFor } from '../recommendation-rules';
import { completedRequest } from '../request-task';

import { TRIAGE_SYSTEM as TRIAGE_PRIORITY_SYSTEM } from '../../fhir/projection/mappers/ai-output.mappers';
import { tabularObservationCodes } from '../features/tabular.features';
const EMERGENCY_CLASSES = new Set(['EMER', 'emergency']);

/** The code of a Task asking for a triage (what `POST Patient/{id}/$triage` creates). */
export const TRIAGE_REQUEST_CODE = { system: 'urn:fhir-ai-server:ai-task', code: 'triage', display: 'Triage requested' };

/** Whether a Task asks for a triage of its patient. Pure. */
export function isTriageRequest(t: Task): boolean {
  return t.status === 'requested' && !!t.code?.coding?.some((c) => c.system === TRIAGE_REQUEST_CODE.system && c.code === TRIAGE_REQUEST_CODE.code);
}

/** Whether an Observation is a vital sign (the FHIR vital-signs category). Pure. */
export function isVitalSign(o: Observation): boolean {
  return (o.category ?? []).some((c) => c.coding?.some((x) => x.code === 'vital-signs'));
}

/**
 * Triage: vital signs recorded in an emergency encounter, or a Task asking for a triage (made by
 * `POST Patient/{id}/$triage`), get a priority from 1 (immediate) to 5 (non-urgent), from the
 * patient's latest vital signs, as a RiskAssessment for the patient (which
 * projects to the triage table). Priorities 1 and 2 are urgent.
 */
export class TriagePlugin implements AiPlugin {
  readonly task = 'triage' as const;
  /** Queued: the priority is a new RiskAssessment (and the request Task completed), after the vital sign or request is stored. */
  readonly runs = 'queued' as const;
  readonly engine = ONNX_ENGINE;
  readonly resourceTypes = ['Observation', 'Task'];
  readonly needsObservations = true;
  /** A triage assesses the patient's latest vital signs: one job per patient per write, one result per input version. */
  readonly resultPerPatient = true;

  observationCodes(model: RegisteredModel): readonly string[] {
    return tabularObservationCodes(model.manifest);
  }

  constructor(
    private readonly registry: ModelRegistry,
    private readonly store: ResourceStore,
  ) {}

  async triggers(event: ResourceEvent, resource: Observation | Task): Promise<boolean> {
    if (!event.patientId) return false;
    if (resource.resourceType === 'Task') return isTriageRequest(resource);
    if (resource.resourceType !== 'Observation' || !isVitalSign(resource)) return false;
    const ref = resource.encounter?.reference;
    const m = ref ? /^Encounter\/([A-Za-z0-9\-.]{1,64})$/.exec(ref) : null;
    if (!m) return false;
    const enc = await this.store.readCurrent('Encounter', m[1]);
    if (!enc?.json || enc.deleted) return false;
    const encounter = JSON.parse(enc.json) as Encounter;
    return EMERGENCY_CLASSES.has(encounter.class?.code ?? '') && encounter.status !== 'finished' && encounter.status !== 'cancelled';
  }

  model(): Promise<RegisteredModel | undefined> {
    return this.registry.active(this.task);
  }

  prepare(model: RegisteredModel, input: PluginInput): PreparedInput {
    return prepareTabular(model, input, 'vital signs', (min) => `at least ${min} are needed`);
  }

  outputs(model: RegisteredModel, input: PluginInput, prepared: PreparedInput, out: ModelOutputs | undefined): PluginOutputs {
    if (prepared.kind === 'fail') throw new Error(prepared.reason);
    const trigger = input.resource as Observation | Task;
    const encounter = trigger.encounter;
    const priority = out?.priority?.[0];
    const probabilities = out?.probabilities ?? [];
    const labels = model.manifest.outputs.find((o) => o.name === 'priority')?.labels ?? [];
    const notes = tabularNotes(prepared, 'Too little is known for a triage');
    const assessment = asOutput<RiskAssessment>(input, {
      resourceType: 'RiskAssessment',
      status: 'final',
      code: { coding: [{ system: TRIAGE_PRIORITY_SYSTEM, code: 'triage' }], text: 'Triage priority' },
      subject: { reference: `Patient/${input.job.patientId}` },
      ...(encounter ? { encounter } : {}),
      ...(trigger.resourceType === 'Task' ? { basedOn: { reference: sourceRef(input) } } : {}),
      occurrenceDateTime: new Date().toISOString(),
      performer: { reference: `Device/${model.id}` },
      method: { text: `${model.manifest.title} (${model.manifest.name} ${model.manifest.version})` },
      basis: [...new Set([sourceRef(input), ...prepared.basis])].map((reference) => ({ reference })),
      ...(prepared.kind === 'run' && typeof priority === 'number' && priority >= 1 && priority <= 5
        ? {
            prediction: [
              {
                outcome: { coding: [{ system: TRIAGE_PRIORITY_SYSTEM, code: String(priority), display: labels[priority - 1] }], text: `Priority ${priority}` },
                probabilityDecimal: Math.round((probabilities[priority - 1] ?? 0) * 10000) / 10000,
                qualitativeRisk: { text: priority <= 2 ? 'urgent' : 'not urgent' },
              },
            ],
          }
        : {}),
      ...(notes.length ? { note: notes.map((text) => ({ text })) } : {}),
    });
    const create = [
      assessment,
      provenanceOf(model, assessment, [sourceRef(input), ...prepared.basis]),
      ...recommendationsFor(model.manifest, { reference: `Device/${model.id}` }, assessment).map(asAiResource),
    ];
    if (trigger.resourceType !== 'Task') return { create };
    // A requested triage: the Task is done, and points at its result.
    return { create, update: completedRequest(trigger, `RiskAssessment/${assessment.id}`, 'triage') };
  }

  /** The vital signs were assessed already: a request is answered with that assessment. */
  reused(input: PluginInput, existing: string): Task | undefined {
    return input.resource.resourceType === 'Task' ? completedRequest(input.resource as Task, existing, 'triage') : undefined;
  }
}
