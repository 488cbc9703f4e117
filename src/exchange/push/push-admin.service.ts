import { Injectable } from '@nestjs/common';
import { conflict, notFound } from '../../fhir/operation-outcome';
import { ConnectionRepository } from '../connection.repository';
import { PushRepository, pushJobId, type PushRow, type PushStatus } from './push.repository';

const PUSH_ID = /^[1-9][0-9]{0,17}$/;

/** The administrators' view of a connection's pushes: the dead-letter list, the push log, and replaying a dead push. */
@Injectable()
export class PushAdminService {
  constructor(
    private readonly connections: ConnectionRepository,
    private readonly pushes: PushRepository,
  ) {}

  async list(connectionId: string, status?: PushStatus, limit?: number): Promise<PushRow[]> {
    await this.requireConnection(connectionId);
    return this.pushes.list(connectionId, status, limit);
  }

  /**
   * Makes a dead push pending again (attempts reset); a worker's dispatcher queues it under a new
   * job id. 404 for an unknown push (or one of another connection), 409 unless it is dead.
   */
  async replay(connectionId: string, pushId: string): Promise<{ row: PushRow; jobId: string }> {
    await this.requireConnection(connectionId);
    const id = PUSH_ID.test(pushId) ? Number(pushId) : undefined;
    if (id === undefined) throw notFound(`No push ${pushId.slice(0, 40)} on connection ${connectionId}`);
    const row = await this.pushes.locked(id, async (tx, row) => {
      if (!row || row.connectionId !== connectionId) throw notFound(`No push ${pushId} on connection ${connectionId}`);
      if (row.status !== 'dead') throw conflict(`Push ${pushId} is ${row.status}, not dead: only a dead-letter can be replayed`);
      return this.pushes.markReplayed(tx, id);
    });
    return { row, jobId: pushJobId(row) };
  }

  private async requireConnection(id: string): Promise<void> {
    if (!(await this.connections.get(id))) throw notFound(`No connection ${id.slice(0, 64)}`);
  }
}
