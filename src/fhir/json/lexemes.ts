import { randomBytes } from 'node:crypto';

/**
 * Decimal lexemes (R4 datatypes.html#decimal: "the precision of the decimal value has significance
 * ... the original precision should be preserved"). JavaScript numbers forget `1.50`'s trailing
 * zero and `123456789012345678.5`'s last digits, so the parsers (fhir-json.ts, the XML converter)
 * keep such lexemes beside the number, on the object or array that holds it, and
 * `stringifyFhirJson` writes them out again wherever the value there is still that number. The
 * server's own logic keeps working on plain numbers. Pure.
 *
 * The lexemes live in a non-enumerable symbol property, with a non-enumerable `toJSON`: invisible
 * to Object.keys, spreads, validators, structured clones (which drop them) and plain
 * JSON.stringify (which writes the number, as before); only `stringifyFhirJson` asks for them.
 */

const LEXEMES = Symbol('fhir.decimal-lexemes');
type Lexemes = Record<string, string>;
type Holder = object & { [LEXEMES]?: Lexemes };

/** A JSON number lexeme (RFC 8259), the only text ever written back in place of a number. */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$/;

/** Marks a number while JSON.stringify runs: a string no client can forge (the nonce is per process). */
const NONCE = randomBytes(8).toString('hex');
const MARKER_PREFIX = `\u0000${NONCE}`;
const MARKER_OUT = new RegExp(`"\\\\u0000${NONCE}([-+.0-9eE]+)"`, 'g');

let emitting = false;
let marked = 0;

/** Whether `text` is a JSON number lexeme. */
export function isJsonNumber(text: string): boolean {
  return JSON_NUMBER.test(text);
}

/** Whether JSON.stringify(Number(lexeme)) would write something else than `lexeme`. */
export function lexemeDiffers(lexeme: string): boolean {
  return String(Number(lexeme)) !== lexeme;
}

/** Keeps `lexeme` for the number at `holder[key]`; ignored unless it is a JSON number lexeme. */
export function setLexeme(holder: object, key: string | number, lexeme: string): void {
  if (!JSON_NUMBER.test(lexeme)) return;
  const h = holder as Holder;
  let lexemes = h[LEXEMES];
  if (!lexemes) {
    lexemes = Object.create(null) as Lexemes;
    Object.defineProperty(h, LEXEMES, { value: lexemes, configurable: true });
    Object.defineProperty(h, 'toJSON', { value: holderToJson, configurable: true, writable: true });
  }
  lexemes[key] = lexeme;
}

/** The lexeme kept for `holder[key]` while that still holds `value` (a change of value drops it). */
export function lexemeOf(holder: unknown, key: string | number, value: unknown): string | undefined {
  const lexemes = (holder as Holder | null | undefined)?.[LEXEMES];
  if (!lexemes || typeof value !== 'number') return undefined;
  const lexeme = lexemes[key];
  return lexeme !== undefined && Object.is(Number(lexeme), value) ? lexeme : undefined;
}

/** Whether `holder` keeps any lexeme. */
export function hasLexemes(holder: unknown): boolean {
  return (holder as Holder | null | undefined)?.[LEXEMES] !== undefined;
}

/** Gives `to` (a copy of `from` with the same keys) the lexemes of `from`. */
export function carryLexemes(from: object, to: object): void {
  const lexemes = (from as Holder)[LEXEMES];
  if (lexemes) for (const key of Object.keys(lexemes)) setLexeme(to, key, lexemes[key]);
}

/** The text of a number in FHIR JSON: its kept lexeme, or what JSON.stringify writes. */
export function numberText(holder: unknown, key: string | number, value: number): string {
  return lexemeOf(holder, key, value) ?? JSON.stringify(value);
}

/**
 * A number lexeme in positional notation with the same value and decimal places, as PostgreSQL's
 * jsonb stores it (`1.2e10` → `12000000000`, `1.0e-7` → `0.00000010`, `-0` → `0`): the form to
 * compare a client's lexeme with one read back from a jsonb column.
 */
export function positionalLexeme(lexeme: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/.exec(lexeme);
  if (!m) return lexeme;
  const [, sign, whole, fraction = ''] = m;
  const exponent = Number(m[4] ?? 0) - fraction.length; // value = digits × 10^exponent
  if (Math.abs(exponent) > 1000) return lexeme;
  let digits = (whole + fraction).replace(/^0+(?=\d)/, '');
  let text: string;
  if (exponent >= 0) text = digits === '0' ? '0' : digits + '0'.repeat(exponent);
  else {
    digits = digits.padStart(-exponent + 1, '0');
    text = `${digits.slice(0, exponent)}.${digits.slice(exponent)}`;
  }
  return /[1-9]/.test(text) ? sign + text : text;
}

/**
 * JSON.stringify that writes kept lexemes. Without any (nearly every resource) it costs what
 * JSON.stringify does: the holders' `toJSON` only marks numbers while this runs.
 */
export function stringifyFhirJson(value: unknown, space?: number): string {
  emitting = true;
  marked = 0;
  let text: string;
  try {
    text = JSON.stringify(value, null, space);
  } finally {
    emitting = false;
  }
  return marked ? text.replace(MARKER_OUT, '$1') : text;
}

function holderToJson(this: Holder): unknown {
  if (!emitting) return this;
  const source = this as Record<string, unknown>;
  const out: Record<string, unknown> | unknown[] = Array.isArray(this) ? [] : {};
  for (const key of Object.keys(source)) {
    const v = source[key];
    const lexeme = typeof v === 'number' ? lexemeOf(this, key, v) : undefined;
    if (lexeme !== undefined) marked++;
    (out as Record<string, unknown>)[key] = lexeme !== undefined ? MARKER_PREFIX + lexeme : v;
  }
  return out;
}

/** The placeholder fhir-json.ts puts in the JSON text for a number whose lexeme must be kept. */
export function lexemePlaceholder(lexeme: string): string {
  return `"\\u0000${NONCE}${lexeme}"`;
}

/** The lexeme of a placeholder once parsed, or undefined for any other string. */
export function placeholderLexeme(s: string): string | undefined {
  return s.charCodeAt(0) === 0 && s.startsWith(MARKER_PREFIX) ? s.slice(MARKER_PREFIX.length) : undefined;
}

/** A deep copy of parsed JSON that keeps the lexemes (structuredClone and JSON round trips drop them). */
export function cloneFhirJson<T>(value: T): T {
  if (Array.isArray(value)) {
    const out = value.map(cloneFhirJson);
    carryLexemes(value, out);
    return out as T;
  }
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = cloneFhirJson((value as Record<string, unknown>)[key]);
    // An own "__proto__" (JSON.parse makes one) must stay a property, not become the prototype.
    if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  carryLexemes(value, out);
  return out as T;
}
