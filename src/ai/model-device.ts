import type { Device } from '@medplum/fhirtypes';
import type { ModelManifest } from './model-manifest';

/** The registry id of a version, also its Device id: `<name>-<version>`. */
export function modelId(manifest: ModelManifest): string {
  return `${manifest.name}-${manifest.version}`.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64);
}

export function conditionKey(manifest: ModelManifest): string | null {
  return manifest.condition ? `${manifest.condition.system}|${manifest.condition.code}` : null;
}

/** Code system of the Device property that carries a version's lifecycle status. */
export const MODEL_PROPERTY_SYSTEM = 'urn:fhir-ai-server:model-property';
export const MODEL_LIFECYCLE_SYSTEM = 'urn:fhir-ai-server:model-lifecycle';

/**
 * The FHIR view of a model version: Device.status active for the active version, inactive
 * otherwise; the lifecycle status (candidate, shadow, active, retired), the condition served and the
 * held-out metrics as properties. Pure.
 */
export function deviceOf(id: string, manifest: ModelManifest, sha256: string, status = 'active'): Device {
  const metrics = Object.entries(manifest.metrics ?? {}).filter(([, v]) => typeof v === 'number') as Array<[string, number]>;
  // A rule version (src/ai/rules/) has no file: its kind and numeric parameters are properties.
  const rule = (manifest as { kind?: string }).kind === 'rule';
  const parameters = Object.entries((manifest as { parameters?: Record<string, unknown> }).parameters ?? {}).filter(([, v]) => typeof v === 'number') as Array<[string, number]>;
  return {
    resourceType: 'Device',
    id,
    status: status === 'active' ? 'active' : 'inactive',
    identifier: [{ system: 'urn:fhir-ai-server:model-sha256', value: sha256 }],
    deviceName: [{ name: manifest.title, type: 'model-name' }],
    modelNumber: manifest.name,
    type: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: manifest.task }], text: rule ? 'AI rule (versioned, implemented in code)' : 'AI model (ONNX)' },
    version: [{ value: manifest.version }],
    property: [
      {
        type: { coding: [{ system: MODEL_PROPERTY_SYSTEM, code: 'lifecycle-status' }], text: 'lifecycle status' },
        valueCode: [{ coding: [{ system: MODEL_LIFECYCLE_SYSTEM, code: status }], text: status }],
      },
      ...(manifest.condition
        ? [{ type: { coding: [{ system: MODEL_PROPERTY_SYSTEM, code: 'condition' }], text: 'condition served' }, valueCode: [{ coding: [manifest.condition] }] }]
        : []),
      ...metrics.map(([name, value]) => ({ type: { text: name }, valueQuantity: [{ value }] })),
      ...(rule ? [{ type: { coding: [{ system: MODEL_PROPERTY_SYSTEM, code: 'kind' }], text: 'kind' }, valueCode: [{ text: 'rule' }] }] : []),
      ...parameters.map(([name, value]) => ({ type: { text: `parameter ${name}` }, valueQuantity: [{ value }] })),
    ],
  };
}
