import { Injectable } from '@nestjs/common';
import type { Device, DeviceUseStatement, Task } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import { ResourceWriteService, prepare } from '../../fhir/write/resource-write.service';
import { predictiveMaintenanceOf, usageDeviceId, usagePeriod, withPredictiveExtension } from './device-usage';
import type { Period } from './maintenance-forecast';
import { writeTrigger } from '../../ai/ai-plugin';
import { PluginCore } from '../../ai/plugins/plugin-core';
import { PREDICTIVE_MAINTENANCE_PLUGIN } from './predictive-maintenance.plugin';
import { OPEN_TASK_STATUSES, completedMaintenanceTask, maintenanceTaskId, openMaintenanceTask } from './maintenance-task';

/**
 * The predictive maintenance of a Device inside a write transaction: its usage (the stored
 * DeviceUseStatements naming it, overlaid with the ones this transaction is writing, which are
 * not yet indexed), the forecast as its server-owned extension (the predictive maintenance plugin,
 * predictive-maintenance.plugin.ts), and the biomed Task kept in step.
 */
@Injectable()
export class MaintenanceService {
  /** The DeviceUseStatements each transaction wrote, by id (as written now). */
  private readonly pending = new WeakMap<Tx, Map<string, DeviceUseStatement>>();

  constructor(
    private readonly store: ResourceStore,
    private readonly writer: ResourceWriteService,
    private readonly plugins: PluginCore,
  ) {}

  note(tx: Tx, statement: DeviceUseStatement): void {
    const map = this.pending.get(tx) ?? new Map<string, DeviceUseStatement>();
    map.set(statement.id as string, statement);
    this.pending.set(tx, map);
  }

  /** The device as it must be stored: the forecast recomputed (none without an interval), its Task opened or completed. */
  async amend(tx: Tx, device: Device, now: Date): Promise<Device> {
    const plugin = PREDICTIVE_MAINTENANCE_PLUGIN;
    // An equipment Device with an interval: the active version of the method (ai_models, task predictive-maintenance)
    // forecasts, and the forecast names its Device; any other Device carries no forecast.
    const triggered = await plugin.triggers(writeTrigger(device, undefined, null), device);
    const amended = triggered
      ? (
          await this.plugins.inTransaction(
            tx,
            plugin,
            { device, usages: await this.usages(tx, device.id as string, now.getTime()), now: now.getTime() },
            { input: { ref: `Device/${device.id}` }, at: now.toISOString(), patientId: null, outputRef: `Device/${device.id}` },
          )
        ).output
      : withPredictiveExtension(device, undefined);
    await this.syncTask(tx, amended, now);
    return amended;
  }

  private async syncTask(tx: Tx, device: Device, now: Date): Promise<void> {
    const f = predictiveMaintenanceOf(device);
    const id = maintenanceTaskId(device.id as string);
    const current = await this.writer.currentOf(tx, 'Task', id);
    const task = current && !current.deleted && current.json ? (JSON.parse(current.json) as Task) : undefined;
    const open = !!task && OPEN_TASK_STATUSES.includes(task.status);
    if (f?.flag && !open) await this.writer.updateInTx(tx, prepare(openMaintenanceTask(device, f, now), 'Task', id), {});
    if (!f?.flag && task && open) await this.writer.updateInTx(tx, prepare(completedMaintenanceTask(task, f, now), 'Task', id), {});
  }

  private async usages(tx: Tx, deviceId: string, now: number): Promise<Period[]> {
    const rows = await tx.query<{ id: string }>(
      `SELECT DISTINCT resource_id AS id FROM search_reference
        WHERE target_id = ? AND target_type = 'Device' AND resource_type = 'DeviceUseStatement' AND code = 'device'`,
      [deviceId],
    );
    const pending = this.pending.get(tx) ?? new Map<string, DeviceUseStatement>();
    const stored = await this.store.readCurrentMany(
      rows.filter((r) => !pending.has(r.id)).map((r) => ({ resourceType: 'DeviceUseStatement', id: r.id })),
      tx,
    );
    const statements: DeviceUseStatement[] = [...pending.values()];
    for (const v of stored.values()) if (!v.deleted && v.json) statements.push(JSON.parse(v.json) as DeviceUseStatement);
    return statements
      .filter((s) => usageDeviceId(s) === deviceId)
      .map((s) => usagePeriod(s, now))
      .filter((p): p is Period => !!p);
  }
}
