import type { Provenance, Reference, Resource } from '@medplum/fhirtypes';
import { AI_JOB_SYSTEM, AI_SOURCE, type PluginInput, type PluginOutputs, type PreparedInput } from '../ai-plugin';
import { buildTabularInput } from '../features/tabular.features';
import type { RegisteredModel } from '../model-registry.service';
import { newResourceId } from '../../fhir/store/resource-id';

/** An output resource: a fresh id, marked as the AI's, identified by its job (one output per job). Pure but for the id. */
export function asOutput<T extends Resource>(input: PluginInput, resource: T): T & { id: string } {
  return {
    ...resource,
    id: newResourceId(),
    meta: { ...(resource.meta ?? {}), source: AI_SOURCE },
    identifier: [{ system: AI_JOB_SYSTEM, value: input.jobId }],
  } as T & { id: string };
}

/** The Provenance of an output: the model version (a Device) as the agent, the inputs as sources. */
export function provenanceOf(model: RegisteredModel, target: Resource & { id: string }, sources: string[]): Provenance {
  return {
    resourceType: 'Provenance',
    id: newResourceId(),
    meta: { source: AI_SOURCE },
    target: [{ reference: `${target.resourceType}/${target.id}` }],
    recorded: new Date().toISOString(),
    activity: { text: `AI ${model.manifest.task}` },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler' }] },
        who: { reference: `Device/${model.id}`, display: `${model.manifest.name} ${model.manifest.version}` },
      },
    ],
    entity: [...new Set(sources)].map((what): { role: 'source'; what: Reference } => ({ role: 'source', what: { reference: what } })),
  };
}

/**
 * The job's one Provenance made to name everything the job writes, so that `Provenance?target=`
 * finds it from each: the output proper, every other new resource (recommendations, alerts) and
 * the write-back onto the trigger, by a versioned reference to the version the write-back makes
 * (`writeBackVersion`: the trigger's version + 1), since the AI wrote that version and no other.
 * New resources are named as the output proper always was, by plain reference (the AI writes
 * their first version). One Provenance per job keeps the write set of a prediction small. Pure.
 */
export function provenanceOfEverything(output: PluginOutputs, writeBackVersion: number): PluginOutputs {
  const provenances = output.create.filter((r): r is Provenance => r.resourceType === 'Provenance');
  if (provenances.length !== 1) return output; // none, or a plugin that says what each one covers
  const [prov] = provenances;
  const refs = [
    ...(prov.target ?? []).map((t) => t.reference as string),
    ...output.create.filter((r) => r !== prov).map((r) => `${r.resourceType}/${r.id}`),
    ...(output.update ? [`${output.update.resourceType}/${output.update.id}/_history/${writeBackVersion}`] : []),
    // The recommendations it supersedes, as the cancelled versions it writes.
    ...(output.supersede ?? []).map((s) => `${s.resource.resourceType}/${s.resource.id}/_history/${s.versionId + 1}`),
  ];
  const everything: Provenance = { ...prov, target: [...new Set(refs)].map((reference) => ({ reference })) };
  return { ...output, create: output.create.map((r) => (r === prov ? everything : r)) };
}

export function sourceRef(input: PluginInput): string {
  return `${input.job.resourceType}/${input.job.resourceId}`;
}

/** A resource the AI writes beside its output (a recommendation, an alert): a fresh id, marked as the AI's. */
export function asAiResource<T extends Resource>(resource: T): T & { id: string } {
  return { ...resource, id: newResourceId(), meta: { ...(resource.meta ?? {}), source: AI_SOURCE } } as T & { id: string };
}

/**
 * The input of a tabular model (diagnosis, triage): the row, or why there are too few real values.
 * `what` names the inputs in that message ("inputs", "vital signs"); `need` how the minimum is put.
 */
export function prepareTabular(model: RegisteredModel, input: PluginInput, what: string, need: (min: number) => string): PreparedInput {
  const t = buildTabularInput(model.manifest, input.patient, input.observations);
  const basis = t.basis.map((r) => r.reference as string);
  if (!t.enough) {
    const known = model.manifest.inputs.length - t.imputed.length;
    return { kind: 'insufficient', basis, imputed: t.imputed, problems: t.problems, reason: `${known} of ${model.manifest.inputs.length} ${what} known; ${need(model.manifest.minRealInputs)}` };
  }
  return { kind: 'run', row: t.values, basis, imputed: t.imputed, problems: t.problems };
}

/** The notes of a tabular output: imputed inputs, refused values, and why no estimate was made (after `insufficientLead`). */
export function tabularNotes(prepared: Exclude<PreparedInput, { kind: 'fail' }>, insufficientLead: string): string[] {
  return [
    ...(prepared.imputed.length ? [`Imputed as the model card says: ${prepared.imputed.join(', ')}`] : []),
    ...prepared.problems,
    ...(prepared.kind === 'insufficient' ? [`${insufficientLead}: ${prepared.reason}`] : []),
  ];
}
