import { FreshRead } from './fresh-read';

describe('FreshRead', () => {
  function reader() {
    let clock = 0;
    let reads = 0;
    const pending: Array<(v: number) => void> = [];
    const r = new FreshRead<number>(
      () => {
        reads++;
        return new Promise<number>((resolve) => pending.push(resolve));
      },
      () => clock,
    );
    return { r, tick: (ms: number) => (clock += ms), reads: () => reads, resolve: (i: number, v: number) => pending[i](v) };
  }

  it('shares a read started at or after the caller began, in flight or done', async () => {
    const t = reader();
    const a = t.r.stamp(); // 0
    const b = t.r.stamp(); // 0
    const pa = t.r.get(a);
    const pb = t.r.get(b);
    expect(t.reads()).toBe(1);
    t.resolve(0, 7);
    await expect(Promise.all([pa, pb])).resolves.toEqual([7, 7]);
    expect(await t.r.get(0)).toBe(7);
    expect(t.reads()).toBe(1);
  });

  it('never answers a caller with a read that started before it began', async () => {
    const t = reader();
    const first = t.r.get(t.r.stamp());
    t.tick(1);
    const later = t.r.stamp();
    const second = t.r.get(later);
    expect(t.reads()).toBe(2);
    t.resolve(0, 1);
    t.resolve(1, 2);
    await expect(first).resolves.toBe(1);
    await expect(second).resolves.toBe(2);
  });

  it('does not share a failed read', async () => {
    let n = 0;
    const r = new FreshRead<number>(async () => {
      n++;
      if (n === 1) throw new Error('down');
      return n;
    }, () => 0);
    await expect(r.get(0)).rejects.toThrow('down');
    await expect(r.get(0)).resolves.toBe(2);
  });
});
