import { Injectable } from '@nestjs/common';
import type { Device, DeviceUseStatement, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { badRequest } from '../../fhir/operation-outcome';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { ResourceWriteService, prepare } from '../../fhir/write/resource-write.service';
import { PREDICTIVE_MAINTENANCE_URL, timingPeriodProblem, usageDeviceId, withPredictiveExtension } from './device-usage';
import { MaintenanceService } from './maintenance.service';

/**
 * Recording usage (a DeviceUseStatement) refreshes the predictive maintenance of the device it
 * names (and of the one it named before, if changed): the Device is rewritten under its lock, so
 * concurrent usages of one device run one after the other and the second counts the first. A
 * timingPeriod that ends before it starts is refused (400).
 */
@Injectable()
export class DeviceUsageRule implements WriteRule {
  readonly name = 'equipment-device-usage';
  readonly resourceTypes = ['DeviceUseStatement'];

  constructor(
    private readonly maintenance: MaintenanceService,
    private readonly writer: ResourceWriteService,
  ) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<void> {
    const statement = resource as DeviceUseStatement;
    const problem = timingPeriodProblem(statement);
    if (problem) throw badRequest(problem, ['DeviceUseStatement.timingPeriod']);
    this.maintenance.note(tx, statement);
    await this.refresh(tx, [usageDeviceId(statement), ctx.previous ? usageDeviceId(ctx.previous as DeviceUseStatement) : undefined]);
  }

  /** A deleted usage no longer counts: the device's forecast is recomputed without it. */
  async beforeDelete(tx: Tx, previous: Resource): Promise<void> {
    const statement = previous as DeviceUseStatement;
    // Seen by this transaction's forecast as not in use (only active, completed and stopped statements count).
    this.maintenance.note(tx, { ...statement, status: 'entered-in-error' });
    await this.refresh(tx, [usageDeviceId(statement)]);
  }

  private async refresh(tx: Tx, deviceIds: Array<string | undefined>): Promise<void> {
    for (const id of [...new Set(deviceIds)].filter((i): i is string => !!i).sort()) {
      const current = await this.writer.currentOf(tx, 'Device', id);
      if (!current || current.deleted || !current.json) continue;
      const device = JSON.parse(current.json) as Device;
      // a Device with a maintenance interval always carries a forecast; the others have nothing to refresh
      if (!device.extension?.some((e) => e.url === PREDICTIVE_MAINTENANCE_URL)) continue;
      // Dropping the stored forecast makes the content differ, so the Device rule recomputes it.
      const { meta: _meta, ...rest } = withPredictiveExtension(device, undefined);
      await this.writer.updateInTx(tx, prepare(rest, 'Device', id), {});
    }
  }
}
