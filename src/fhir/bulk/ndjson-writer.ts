/**
 * Collects NDJSON lines into parts of at most `maxBytes` (a single larger line makes a part of
 * its own) and hands each full part to `flush`, so that no export is ever held whole in memory.
 */
export class NdjsonPartWriter {
  private lines: string[] = [];
  private bytes = 0;
  /** Lines written so far, flushed or not. */
  count = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly flush: (text: string, count: number, bytes: number) => Promise<void>,
  ) {}

  async add(line: string): Promise<void> {
    const size = Buffer.byteLength(line, 'utf8') + 1;
    if (this.lines.length && this.bytes + size > this.maxBytes) await this.emit();
    this.lines.push(line);
    this.bytes += size;
    this.count++;
  }

  /** Flushes what is left. */
  async end(): Promise<void> {
    if (this.lines.length) await this.emit();
  }

  private async emit(): Promise<void> {
    const lines = this.lines;
    const bytes = this.bytes;
    this.lines = [];
    this.bytes = 0;
    await this.flush(`${lines.join('\n')}\n`, lines.length, bytes);
  }
}
