/** How a batch's chunks are prepared and written (see runChunks). */
export interface ChunkSteps<C, P, R> {
  /** Work that needs no database (access checks, validation). */
  prepare(chunk: C): Promise<P>;
  /**
   * The advisory-lock keys a prepared chunk's write takes, if it cannot see another chunk's writes
   * but through them; undefined when it may depend on the chunk before it.
   */
  locks(prepared: P): Set<string> | undefined;
  write(chunk: C, prepared: P): Promise<R>;
}

/**
 * Runs a batch's chunks in order, overlapping what can overlap: a chunk is prepared while the one
 * before it is written, and its write starts before that one's has finished when both are
 * independent (`locks` defined) and take no lock in common. Never more than two writes at once.
 * Resolves to the writes' results in chunk order. On the first failure no further write starts,
 * and it rejects once the writes already started have ended.
 */
export async function runChunks<C, P, R>(chunks: C[], steps: ChunkSteps<C, P, R>): Promise<R[]> {
  const results: R[] = new Array(chunks.length);
  let failure: { err: unknown } | undefined;
  // The write before this one (its promise never rejects: a failure is kept in `failure`) and its locks.
  let previous: { ended: Promise<void>; locks: Set<string> | undefined } = { ended: Promise.resolve(), locks: undefined };
  let next = chunks.length ? steps.prepare(chunks[0]) : undefined;
  try {
    for (let i = 0; i < chunks.length && !failure; i++) {
      const prepared = await (next as Promise<P>);
      next = i + 1 < chunks.length ? steps.prepare(chunks[i + 1]) : undefined;
      next?.catch(() => undefined); // awaited on the next turn, or dropped after a failure
      const locks = steps.locks(prepared);
      const before = previous.locks;
      if (!locks || !before || [...locks].some((k) => before.has(k))) await previous.ended;
      if (failure) break;
      const ended = steps.write(chunks[i], prepared).then(
        (r) => {
          results[i] = r;
        },
        (err: unknown) => {
          failure ??= { err };
        },
      );
      await previous.ended; // never more than two writes at once
      previous = { ended, locks };
    }
  } finally {
    await previous.ended;
  }
  if (failure) throw failure.err;
  return results;
}
