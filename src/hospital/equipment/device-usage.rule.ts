import { Injectable } from '@nestjs/common';
import type { Device, DeviceUseStatement, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { ResourceWriteService, prepare } from '../../fhir/write/resource-write.service';
import { PREDICTIVE_MAINTENANCE_URL, usageDeviceId, withPredictiveExtension } from './device-usage';
import { MaintenanceService } from './maintenance.service';

/**
 * Recording usage (a DeviceUseStatement) refreshes the predictive maintenance of the device it
 * names (and of the one it named before, if changed): the Device is rewritten under its lock, so
 * concurrent usages of one device run one after the other and the second counts the first.
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
    this.maintenance.note(tx, statement);
    const ids = new Set([usageDeviceId(statement), ctx.previous ? usageDeviceId(ctx.previous as DeviceUseStatement) : undefined]);
    for (const id of [...ids].filter((i): i is string => !!i).sort()) {
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
