import { isUtf8 } from 'node:buffer';
import { OperationOutcomeError } from '../../fhir/operation-outcome';

/** Content types of an NDJSON stream of readings. */
export const NDJSON_TYPES = ['application/x-ndjson', 'application/fhir+ndjson', 'application/ndjson'];

export interface NdjsonLine {
  /** 1-based line number in the body. */
  line: number;
  text: string;
  /** Why the line's bytes are no text (not UTF-8): its text is then empty. */
  problem?: string;
}

/**
 * The non-blank lines of an NDJSON body as they arrive, one at a time (the caller's await between
 * lines pauses the stream): only the current line and one chunk are held. Splits on LF (a CR
 * before it is dropped) in bytes, so a UTF-8 character cut between chunks is decoded whole.
 * Refuses with 413 once the body passes `maxBytes`. Pure apart from reading `source`.
 */
export async function* ndjsonLines(source: AsyncIterable<Buffer | string>, maxBytes: number): AsyncGenerator<NdjsonLine> {
  let pending: Buffer[] = [];
  let total = 0;
  let line = 0;
  const text = (parts: Buffer[]) => {
    const bytes = Buffer.concat(parts);
    // Not replaced with U+FFFD as toString would: a reading must not be stored other than as sent.
    if (!isUtf8(bytes)) return undefined;
    const s = bytes.toString('utf8');
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  for await (const piece of source) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    total += chunk.length;
    if (total > maxBytes) throw OperationOutcomeError.of(413, 'too-costly', `The NDJSON body is larger than ${maxBytes} bytes (MAX_BODY_BYTES); lines up to ${line} were processed`);
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, nl));
      line++;
      const t = text(pending);
      pending = [];
      start = nl + 1;
      if (t === undefined) yield { line, text: '', problem: 'not valid UTF-8' };
      else if (t.trim()) yield { line, text: t };
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length) {
    line++;
    const t = text(pending);
    if (t === undefined) yield { line, text: '', problem: 'not valid UTF-8' };
    else if (t.trim()) yield { line, text: t };
  }
}
