import { OperationOutcomeError, badRequest } from '../operation-outcome';
import { isJsonNumber, lexemeDiffers, lexemePlaceholder, placeholderLexeme, setLexeme } from './lexemes';

/** Deepest JSON nesting accepted; FHIR resources nest a few dozen levels at most. */
export const MAX_JSON_DEPTH = 100;

/** What one pass over a JSON text found (outside strings, but for `surrogateEscapes`). */
export interface JsonScan {
  /** [start, end) of each number whose lexeme JSON.parse would not keep (1.50, 1e2, 18 digits). */
  lexemes: number[];
  /** Some kept lexeme is a whole number written as a decimal (1.0, 1e2): an integer element must refuse it. */
  integralLexemes: boolean;
  /** Some `\uD800`-`\uDFFF` escape: a string may hold a lone surrogate. */
  surrogateEscapes: boolean;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * One pass over a JSON text: refuses nesting deeper than `max` before anything recursive runs (a
 * "JSON bomb" would exhaust the stack of every walker after the parser), and finds the numbers
 * whose lexemes must be kept. Strings are skipped with indexOf. Throws a 400 OperationOutcome.
 */
export function scanJson(text: string, max = MAX_JSON_DEPTH): JsonScan {
  const scan: JsonScan = { lexemes: [], integralLexemes: false, surrogateEscapes: SURROGATE_ESCAPE.test(text) };
  const n = text.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      i = closingQuote(text, i);
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) throw OperationOutcomeError.of(400, 'too-costly', `The JSON body is nested deeper than ${max} levels`);
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      let j = i + 1;
      let plain = c !== 45 || text.charCodeAt(j) !== 48; // "-0..." is never written back by JSON.stringify
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d >= 48 && d <= 57) continue;
        if (d === 46 /* . */ || d === 101 /* e */ || d === 69 /* E */ || d === 43 /* + */ || d === 45 /* - */) plain = false;
        else break;
      }
      // Only decimals, exponents and long digit runs can be changed by a round trip through a double.
      if (!plain || j - i > 15) noteNumber(text, i, j, scan);
      i = j - 1;
    }
  }
  return scan;
}

function noteNumber(text: string, start: number, end: number, scan: JsonScan): void {
  const lexeme = text.slice(start, end);
  // Anything but a JSON number lexeme (01.5, 1.) is left as it is, for JSON.parse to refuse.
  if (!lexemeDiffers(lexeme) || !isJsonNumber(lexeme)) return;
  // A number followed by ':' would be a key, which JSON forbids: left as it is, JSON.parse refuses it.
  let k = end;
  while (k < text.length && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 10 || text.charCodeAt(k) === 13 || text.charCodeAt(k) === 9)) k++;
  if (text.charCodeAt(k) === 58 /* : */) return;
  scan.lexemes.push(start, end);
  if (Number.isInteger(Number(lexeme)) && /[.eE]/.test(lexeme)) scan.integralLexemes = true;
}

/** The index of the quote that closes the string opening at `open` (text.length when none). */
function closingQuote(text: string, open: number): number {
  let q = text.indexOf('"', open + 1);
  while (q !== -1) {
    let backslashes = 0;
    for (let b = q - 1; text.charCodeAt(b) === 92; b--) backslashes++;
    if (backslashes % 2 === 0) return q;
    q = text.indexOf('"', q + 1);
  }
  return text.length;
}

/**
 * Parses FHIR JSON keeping the lexemes of numbers that a double would change (lexemes.ts), and
 * refuses strings holding a lone surrogate (R4 strings are Unicode text; PostgreSQL and UTF-8
 * cannot carry one). Bodies without such numbers or escapes cost one scan and JSON.parse. A
 * malformed text throws JSON.parse's SyntaxError.
 */
export function parseFhirJson(text: string, scan: JsonScan = scanJson(text)): unknown {
  let value: unknown;
  if (!scan.lexemes.length) {
    value = JSON.parse(text);
  } else {
    // Each such number becomes a placeholder string, parsed natively, then turned back into the number.
    let substituted = '';
    let last = 0;
    for (let k = 0; k < scan.lexemes.length; k += 2) {
      const [start, end] = [scan.lexemes[k], scan.lexemes[k + 1]];
      substituted += text.slice(last, start) + lexemePlaceholder(text.slice(start, end));
      last = end;
    }
    value = restoreNumbers(JSON.parse(substituted + text.slice(last)));
  }
  if (scan.surrogateEscapes) {
    const at = loneSurrogateAt(value, rootPath(value));
    if (at) throw badRequest(`A string holds a lone surrogate at ${at}`, [at]);
  }
  return value;
}

function restoreNumbers(value: unknown): unknown {
  if (typeof value === 'string') {
    const lexeme = placeholderLexeme(value);
    return lexeme === undefined ? value : Number(lexeme);
  }
  if (value === null || typeof value !== 'object') return value;
  const holder = value as Record<string, unknown>;
  for (const key of Object.keys(holder)) {
    const v = holder[key];
    if (typeof v === 'string') {
      const lexeme = placeholderLexeme(v);
      if (lexeme !== undefined) {
        holder[key] = Number(lexeme);
        setLexeme(holder, Array.isArray(holder) ? Number(key) : key, lexeme);
      }
    } else if (v !== null && typeof v === 'object') {
      restoreNumbers(v);
    }
  }
  return value;
}

function rootPath(value: unknown): string {
  const type = (value as { resourceType?: unknown } | null)?.resourceType;
  return typeof type === 'string' && /^[A-Za-z]{1,64}$/.test(type) ? type : '$';
}

/** The path of the first string (or key) holding a lone surrogate, in FHIRPath-like form. */
export function loneSurrogateAt(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return wellFormed(value) ? undefined : path;
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const at = loneSurrogateAt(value[i], `${path}[${i}]`);
      if (at) return at;
    }
    return undefined;
  }
  for (const [key, v] of Object.entries(value)) {
    if (!wellFormed(key)) return `${path}.${key.replace(/[\uD800-\uDFFF]/g, '?')}`;
    const at = loneSurrogateAt(v, `${path}.${key}`);
    if (at) return at;
  }
  return undefined;
}

/** String.prototype.isWellFormed (Node 20; the TypeScript lib here is ES2022): no lone surrogate. */
function wellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}
