/**
 * A read shared by concurrent consumers of committed events, each of which needs a result that
 * is at least as new as its event. `get(notBefore)` returns the latest read if that read *started*
 * at or after `notBefore` (so it saw everything committed before then), and otherwise starts a
 * new one. Concurrent fan-out jobs that begin together thus share one query instead of one each,
 * without ever answering from a read older than their event.
 */
export class FreshRead<T> {
  private latest?: { startedAt: number; value: Promise<T> };

  constructor(
    private readonly read: () => Promise<T>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A result of a read started no earlier than `notBefore` (on this reader's clock: `now()`). */
  get(notBefore: number): Promise<T> {
    const latest = this.latest;
    if (latest && latest.startedAt >= notBefore) return latest.value;
    const startedAt = this.now();
    const value = this.read();
    const entry = { startedAt, value };
    this.latest = entry;
    // A failed read is not shared with later callers.
    value.catch(() => {
      if (this.latest === entry) this.latest = undefined;
    });
    return value;
  }

  /** The clock `get` compares against: take it when the event's work begins. */
  stamp(): number {
    return this.now();
  }
}
