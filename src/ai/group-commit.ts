import type { Tx, TxContext } from '../database/database.service';

/** Runs `fn` in one transaction of `ctx` (ResourceWriteService.inTransaction: flush, checks, NOTIFY, commit). */
export type RunInTransaction = <T>(ctx: TxContext, fn: (tx: Tx) => Promise<T>) => Promise<T>;

interface Unit {
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

interface Lane {
  waiting: Unit[];
  /** Transactions of this lane in flight. */
  running: number;
  /** Set while units wait behind a running transaction: when it fires, they get one of their own. */
  timer?: NodeJS.Timeout;
}

/**
 * Group commit for the AI jobs' writes: units of work submitted while a transaction of the same
 * actor is committing wait for it, then all go together in the next transaction, sharing its
 * BEGIN, set_config, per-table flush, NOTIFY and COMMIT. A unit submitted while nothing is
 * committing starts at once (no added delay when the load is light). Units never wait longer than
 * `maxWaitMs` behind a running transaction: a transaction blocked in the database (a lock held
 * elsewhere) holds up only its own units, not every later job of the lane.
 *
 * Each unit's outcome stays its own: if a shared transaction fails for any reason (one unit
 * throwing, a constraint at commit, a deadlock), it is rolled back whole and every unit of it is
 * run again in a transaction of its own, so a failure reaches only the unit that causes it. A unit
 * must therefore be safe to run twice when its first run was rolled back (it writes only through
 * `tx`).
 */
export class GroupCommit {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly runInTransaction: RunInTransaction,
    /** The most units per transaction; 1 turns grouping off. */
    private readonly maxUnits = 16,
    /** How long units wait behind a running transaction before they start another one. */
    private readonly maxWaitMs = 50,
    /** Told when a shared transaction failed and its units are re-run one per transaction. */
    private readonly onFallback: (err: unknown, units: number) => void = () => undefined,
  ) {}

  /** Runs `fn` in a transaction of `ctx`, possibly shared with other units of the same actor. */
  submit<T>(ctx: TxContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.maxUnits <= 1) return this.runInTransaction(ctx, fn);
    return new Promise<T>((resolve, reject) => {
      const key = `${ctx.actor}\n${ctx.requestId ?? ''}`;
      const lane = this.laneOf(key);
      lane.waiting.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!lane.running) void this.drain(key, ctx, lane);
      else lane.timer ??= setTimeout(() => {
        lane.timer = undefined;
        if (lane.waiting.length) void this.drain(key, ctx, lane);
      }, this.maxWaitMs);
    });
  }

  /** One lane per transaction context (actor and request id): only units of the same context share a transaction. */
  private laneOf(key: string): Lane {
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { waiting: [], running: 0 }));
    return lane;
  }

  private async drain(key: string, ctx: TxContext, lane: Lane): Promise<void> {
    lane.running++;
    try {
      while (lane.waiting.length) {
        clearTimeout(lane.timer);
        lane.timer = undefined;
        await this.commit(ctx, lane.waiting.splice(0, this.maxUnits));
      }
    } finally {
      lane.running--;
      if (lane.waiting.length && !lane.running) void this.drain(key, ctx, lane);
      else if (!lane.running && !lane.waiting.length) this.lanes.delete(key);
    }
  }

  private async commit(ctx: TxContext, units: Unit[]): Promise<void> {
    if (units.length === 1) return this.alone(ctx, units[0]);
    let results: unknown[];
    try {
      results = await this.runInTransaction(ctx, async (tx) => {
        const out: unknown[] = [];
        for (const u of units) out.push(await u.fn(tx));
        return out;
      });
    } catch (err) {
      // Rolled back whole: each unit again on its own, so that only the failing one fails.
      this.onFallback(err, units.length);
      for (const u of units) await this.alone(ctx, u);
      return;
    }
    units.forEach((u, i) => u.resolve(results[i]));
  }

  private async alone(ctx: TxContext, u: Unit): Promise<void> {
    try {
      u.resolve(await this.runInTransaction(ctx, u.fn));
    } catch (err) {
      u.reject(err);
    }
  }
}
