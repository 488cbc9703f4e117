import { NdjsonPartWriter } from './ndjson-writer';

describe('NdjsonPartWriter', () => {
  it('cuts parts at the byte limit, never splits a line, and flushes the rest at the end', async () => {
    const parts: Array<{ text: string; count: number; bytes: number }> = [];
    const w = new NdjsonPartWriter(20, async (text, count, bytes) => {
      parts.push({ text, count, bytes });
    });
    for (const line of ['{"a":1}', '{"b":2}', '{"c":3}', '{"long":"xxxxxxxxxxxxxxxxxxxx"}', '{"d":4}']) await w.add(line);
    await w.end();
    expect(parts.map((p) => p.text)).toEqual(['{"a":1}\n{"b":2}\n', '{"c":3}\n', '{"long":"xxxxxxxxxxxxxxxxxxxx"}\n', '{"d":4}\n']);
    expect(parts.map((p) => p.count)).toEqual([2, 1, 1, 1]);
    for (const p of parts) expect(p.bytes).toBe(Buffer.byteLength(p.text));
    expect(w.count).toBe(5);
  });

  it('counts bytes, not characters', async () => {
    const sizes: number[] = [];
    const w = new NdjsonPartWriter(10, async (_t, _c, bytes) => {
      sizes.push(bytes);
    });
    await w.add('"ü"'); // 4 bytes + newline
    await w.add('"é"');
    await w.add('"x"');
    await w.end();
    expect(sizes).toEqual([10, 4]);
  });

  it('writes nothing when nothing was added', async () => {
    const flush = jest.fn();
    await new NdjsonPartWriter(10, flush).end();
    expect(flush).not.toHaveBeenCalled();
  });
});
