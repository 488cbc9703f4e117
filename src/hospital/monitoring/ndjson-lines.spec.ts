import { OperationOutcomeError } from '../../fhir/operation-outcome';
import { ndjsonLines, type NdjsonLine } from './ndjson-lines';

async function* chunks(...parts: Array<string | Buffer>): AsyncGenerator<Buffer | string> {
  for (const p of parts) yield p;
}

async function all(source: AsyncIterable<Buffer | string>, max = 1_000_000): Promise<NdjsonLine[]> {
  const out: NdjsonLine[] = [];
  for await (const l of ndjsonLines(source, max)) out.push(l);
  return out;
}

describe('ndjsonLines', () => {
  it('yields each non-blank line with its 1-based number, across chunk boundaries, with or without a final newline', async () => {
    expect(await all(chunks('{"a":1}\n{"b"', ':2}\r\n\n  \n{"c":3}'))).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":2}' },
      { line: 5, text: '{"c":3}' },
    ]);
    expect(await all(chunks('{"a":1}\n'))).toEqual([{ line: 1, text: '{"a":1}' }]);
    expect(await all(chunks(''))).toEqual([]);
  });

  it('decodes a UTF-8 character split between two chunks', async () => {
    const bytes = Buffer.from('{"t":"é"}\n', 'utf8');
    const cut = bytes.indexOf(0xc3) + 1;
    expect(await all(chunks(bytes.subarray(0, cut), bytes.subarray(cut)))).toEqual([{ line: 1, text: '{"t":"é"}' }]);
  });

  it('marks a line whose bytes are not UTF-8, and goes on with the next', async () => {
    const bad = Buffer.concat([Buffer.from('{"t":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n{"t":"ok"}\n')]);
    expect(await all(chunks(bad))).toEqual([
      { line: 1, text: '', problem: 'not valid UTF-8' },
      { line: 2, text: '{"t":"ok"}' },
    ]);
  });

  it('refuses a body larger than the limit with 413, after the lines before it', async () => {
    const seen: number[] = [];
    let error: unknown;
    try {
      for await (const l of ndjsonLines(chunks('{"a":1}\n', '{"b":2}\n', 'x'.repeat(40)), 30)) seen.push(l.line);
    } catch (e) {
      error = e;
    }
    expect(seen).toEqual([1, 2]);
    expect(error).toBeInstanceOf(OperationOutcomeError);
    expect((error as OperationOutcomeError).status).toBe(413);
  });
});
