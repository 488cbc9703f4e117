/** How a batch's chunks are prepared and written (see runChunks). */
export interface ChunkSteps<C, P, R, F> {
  /** Work that needs no database (access checks, validation). */
  prepare(chunk: C): Promise<P>;
  /** What a prepared chunk's write could share with another's; undefined when it must wait for the chunk before it. */
  footprint(prepared: P): F | undefined;
  /** Whether two chunks' writes could change each other's outcome (then they run in order). */
  conflict(a: F, b: F): boolean;
  write(chunk: C, prepared: P): Promise<R>;
}

/**
 * Runs a batch's chunks in order, overlapping what can overlap: a chunk is prepared while the one
 * before it is written, and its write starts before that one's has finished when both have a
 * footprint and they do not conflict. Never more than two writes at once.
 * Resolves to the writes' results in chunk order. On the first failure no further write starts,
 * and it rejects once the writes already started have ended.
 */
export async function runChunks<C, P, R, F>(chunks: C[], steps: ChunkSteps<C, P, R, F>): Promise<R[]> {
  const results: R[] = new Array(chunks.length);
  let failure: { err: unknown } | undefined;
  // The write before this one (its promise never rejects: a failure is kept in `failure`) and its footprint.
  let previous: { ended: Promise<void>; footprint: F | undefined } = { ended: Promise.resolve(), footprint: undefined };
  let next = chunks.length ? steps.prepare(chunks[0]) : undefined;
  try {
    for (let i = 0; i < chunks.length && !failure; i++) {
      const prepared = await (next as Promise<P>);
      next = i + 1 < chunks.length ? steps.prepare(chunks[i + 1]) : undefined;
      next?.catch(() => undefined); // awaited on the next turn, or dropped after a failure
      const footprint = steps.footprint(prepared);
      const before = previous.footprint;
      if (footprint === undefined || before === undefined || steps.conflict(before, footprint)) await previous.ended;
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
      previous = { ended, footprint };
    }
  } finally {
    await previous.ended;
  }
  if (failure) throw failure.err;
  return results;
}
