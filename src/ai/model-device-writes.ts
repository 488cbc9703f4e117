import type { Device } from '@medplum/fhirtypes';
import type { Tx } from '../database/database.service';
import { conflict } from '../fhir/operation-outcome';
import type { StoredVersion } from '../fhir/store/resource-store.repository';
import { ResourceWriteService, prepare, type WriteOutcome } from '../fhir/write/resource-write.service';

/** The transactions in which the model registry itself writes its Devices (ModelDeviceGuard lets only these through). */
const registryTransactions = new WeakSet<Tx>();

/**
 * Writes a model version's Device as the registry: the only way a registry Device (one whose id is
 * an ai_models id) is created or changed. Every other write of such a Device, by any client and
 * through any interaction, is refused by ModelDeviceGuard.
 */
export function writeModelDevice(writer: ResourceWriteService, tx: Tx, device: Device): Promise<WriteOutcome> {
  registryTransactions.add(tx);
  return writer.updateInTx(tx, prepare(device, 'Device', device.id as string), {});
}

/**
 * A new version's Device id must be free: a Device stored there already (a client's infusion pump
 * at `probe-cad-5.0.0`, or one deleted, whose history would become the model's) is not the
 * registry's to overwrite. 409 naming it; call before anything is stored, and again in the
 * registering transaction (`current` read there, locked).
 */
export function requireFreeDeviceId(id: string, current: StoredVersion | undefined): void {
  if (!current) return;
  const state = current.deleted ? `deleted (its history kept, version ${current.versionId})` : `at version ${current.versionId}`;
  throw conflict(
    `Device/${id} already exists (${state}) and is not a model version's Device: registering this version under id ${id} would overwrite it. Nothing was registered; give the model another name or version`,
    'duplicate',
  );
}

/** Whether `tx` is one in which the registry writes its Devices. */
export function isRegistryTransaction(tx: Tx): boolean {
  return registryTransactions.has(tx);
}
