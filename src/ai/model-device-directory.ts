import { Injectable } from '@nestjs/common';
import { DatabaseService, type Tx } from '../database/database.service';

/**
 * Which Devices are the model registry's: exactly those whose id is a registered version's id
 * (ai_models, models and rules alike). The content of a Device never decides it: a look-alike
 * (the registry's type coding, say, pushed by another server) is an ordinary Device.
 */
@Injectable()
export class ModelDeviceDirectory {
  constructor(private readonly db: DatabaseService) {}

  /** Every registry Device id, sorted. */
  async ids(tx?: Tx): Promise<string[]> {
    const rows = await (tx ?? this.db).query<{ id: string }>('SELECT id FROM ai_models ORDER BY id');
    return rows.map((r) => r.id);
  }

  async has(id: string, tx?: Tx): Promise<boolean> {
    return (await (tx ?? this.db).query('SELECT 1 FROM ai_models WHERE id = ?', [id])).length > 0;
  }
}
