import { runChunks } from './chunk-pipeline';

/** A step that records when it starts and ends, and finishes when the test releases it. */
function recorder() {
  const log: string[] = [];
  const waiting = new Map<string, () => void>();
  const step = (name: string) =>
    new Promise<void>((resolve) => {
      log.push(`${name}+`);
      waiting.set(name, () => {
        log.push(`${name}-`);
        resolve();
      });
    });
  const release = async (name: string) => {
    for (let i = 0; i < 20 && !waiting.has(name); i++) await new Promise((r) => setImmediate(r));
    const done = waiting.get(name);
    if (!done) throw new Error(`${name} never started; log: ${log.join(' ')}`);
    waiting.delete(name);
    done();
    await new Promise((r) => setImmediate(r));
  };
  const started = (name: string) => log.includes(`${name}+`);
  return { log, step, release, started };
}

describe('runChunks', () => {
  it('prepares the next chunk while one is written, and writes independent chunks two at a time', async () => {
    const r = recorder();
    const locks: Record<string, Set<string>> = { a: new Set(['x']), b: new Set(['y']), c: new Set(['z']) };
    const run = runChunks(['a', 'b', 'c'], {
      prepare: async (c) => {
        await r.step(`prepare ${c}`);
        return c;
      },
      footprint: (c) => locks[c],
      conflict: (x, y) => [...x].some((k) => y.has(k)),
      write: async (c) => {
        await r.step(`write ${c}`);
        return c.toUpperCase();
      },
    });
    await r.release('prepare a');
    expect(r.started('write a')).toBe(true);
    expect(r.started('prepare b')).toBe(true);
    await r.release('prepare b');
    expect(r.started('write b')).toBe(true); // beside a: no lock in common
    expect(r.started('prepare c')).toBe(true); // one chunk prepared ahead
    await r.release('prepare c');
    expect(r.started('write c')).toBe(false); // never three writes at once
    await r.release('write b');
    expect(r.started('write c')).toBe(false); // a, the older, still runs
    await r.release('write a');
    expect(r.started('write c')).toBe(true);
    await r.release('write c');
    await expect(run).resolves.toEqual(['A', 'B', 'C']);
  });

  it('waits for the chunk before when a chunk shares a lock with it or may depend on it', async () => {
    for (const second of [new Set(['x']), undefined]) {
      const r = recorder();
      const run = runChunks(['a', 'b'], {
        prepare: async (c) => c,
        footprint: (c) => (c === 'a' ? new Set(['x']) : second),
        conflict: (x, y) => [...x].some((k) => y.has(k)),
        write: async (c) => {
          await r.step(`write ${c}`);
          return c;
        },
      });
      await r.release('write a');
      expect(r.log.indexOf('write b+')).toBeGreaterThan(r.log.indexOf('write a-'));
      await r.release('write b');
      await expect(run).resolves.toEqual(['a', 'b']);
    }
  });

  it('rejects with a failed write once the write beside it has ended, and starts no later write', async () => {
    const r = recorder();
    const wrote: string[] = [];
    const run = runChunks(['a', 'b', 'c'], {
      prepare: async (c) => c,
      footprint: () => new Set<string>(),
      conflict: () => false,
      write: async (c) => {
        if (c === 'b') throw new Error('b failed');
        await r.step(`write ${c}`);
        wrote.push(c);
        return c;
      },
    });
    let settled = false;
    run.catch(() => undefined).finally(() => (settled = true));
    await new Promise((res) => setImmediate(res));
    expect(settled).toBe(false); // a is still being written
    expect(r.started('write c')).toBe(false);
    await r.release('write a');
    await expect(run).rejects.toThrow('b failed');
    expect(wrote).toEqual(['a']);
    expect(r.started('write c')).toBe(false);
  });

  it('answers an empty batch with nothing', async () => {
    await expect(runChunks([], { prepare: async () => 1, footprint: () => undefined, conflict: () => true, write: async () => 1 })).resolves.toEqual([]);
  });
});
