import { randomUUID } from 'node:crypto';
import type { Provenance, Reference, Resource } from '@medplum/fhirtypes';
import { AI_JOB_SYSTEM, AI_SOURCE, type PluginInput } from '../ai-plugin';
import type { RegisteredModel } from '../model-registry.service';

/** An output resource: a fresh id, marked as the AI's, identified by its job (one output per job). Pure but for the id. */
export function asOutput<T extends Resource>(input: PluginInput, resource: T): T & { id: string } {
  return {
    ...resource,
    id: randomUUID(),
    meta: { ...(resource.meta ?? {}), source: AI_SOURCE },
    identifier: [{ system: AI_JOB_SYSTEM, value: input.jobId }],
  } as T & { id: string };
}

/** The Provenance of an output: the model version (a Device) as the agent, the inputs as sources. */
export function provenanceOf(model: RegisteredModel, target: Resource & { id: string }, sources: string[]): Provenance {
  return {
    resourceType: 'Provenance',
    id: randomUUID(),
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

export function sourceRef(input: PluginInput): string {
  return `${input.job.resourceType}/${input.job.resourceId}`;
}

/** A resource the AI writes beside its output (a recommendation, an alert): a fresh id, marked as the AI's. */
export function asAiResource<T extends Resource>(resource: T): T & { id: string } {
  return { ...resource, id: randomUUID(), meta: { ...(resource.meta ?? {}), source: AI_SOURCE } } as T & { id: string };
}
