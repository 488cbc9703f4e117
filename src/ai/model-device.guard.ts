import { Injectable } from '@nestjs/common';
import type { Device, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../database/database.service';
import { forbidden } from '../fhir/operation-outcome';
import type { WriteRule } from '../fhir/write/write-rules';
import type { ModelManifest } from './model-manifest';
import { modelId } from './model-device';
import { ModelDeviceDirectory } from './model-device-directory';
import { isRegistryTransaction } from './model-device-writes';

const AI_TASK_SYSTEM = 'urn:fhir-ai-server:ai-task';

/**
 * The model registry's Devices are server-owned: the FHIR view of ai_models, written only by the
 * registry (writeModelDevice). On the one write path, so every client interaction is covered
 * (create, update, patch, delete, their conditional forms, bundle entries): a write or delete of a
 * Device whose id is a registered version's is refused (403), and so is a client Device that
 * claims to be a version the registry would describe at that very id (the registry's task coding,
 * at `<modelNumber>-<version>`), which would stand in for a version not registered (or block its
 * registration). Look-alikes at other ids (another server's model Device, pushed or pulled) are
 * ordinary Devices: the registry never takes a Device's content for its own.
 */
@Injectable()
export class ModelDeviceGuard implements WriteRule {
  readonly name = 'model-registry-devices';
  readonly resourceTypes = ['Device'] as const;

  constructor(private readonly directory: ModelDeviceDirectory) {}

  async beforeWrite(tx: Tx, resource: Resource): Promise<void> {
    if (isRegistryTransaction(tx)) return;
    const id = resource.id as string;
    if (await this.directory.has(id, tx)) throw managed(id, 'changed');
    const claimed = claimedVersion(resource as Device);
    if (claimed && claimed === id) {
      throw forbidden(
        `Device/${id} claims to be the registry's Device of model version ${id} (type ${AI_TASK_SYSTEM}, modelNumber and version): model versions are registered with POST /api/models, which writes their Devices`,
      );
    }
  }

  async beforeDelete(tx: Tx, previous: Resource): Promise<void> {
    if (isRegistryTransaction(tx)) return;
    if (await this.directory.has(previous.id as string, tx)) throw managed(previous.id as string, 'deleted');
  }
}

function managed(id: string, what: string): Error {
  return forbidden(
    `Device/${id} is the model registry's Device of model version ${id}: it is managed by /api/models (register, shadow, promote, rollback, retire) and cannot be ${what} through FHIR`,
  );
}

/** The registry id a Device would have if it were the registry's view of a version (its task coding, modelNumber and version), else undefined. Pure. */
export function claimedVersion(device: Device): string | undefined {
  const task = device.type?.coding?.some((c) => c.system === AI_TASK_SYSTEM);
  const version = device.version?.[0]?.value;
  if (!task || !device.modelNumber || !version) return undefined;
  return modelId({ name: device.modelNumber, version } as ModelManifest);
}
