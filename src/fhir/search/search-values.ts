/**
 * The value rules that index rows and search values share: string normalisation, date ranges
 * from a FHIR date's precision, number ranges from a decimal's significant figures, reference
 * parsing. Pure.
 */

/**
 * The longest text an index row keeps (and a search compares): b-tree entries are limited to about
 * 2,700 bytes, and 500 characters stay below that even at four bytes each.
 */
export const MAX_INDEXED_CHARS = 500;

export function capText(s: string): string {
  return s.length > MAX_INDEXED_CHARS ? s.slice(0, MAX_INDEXED_CHARS) : s;
}

/**
 * Case, accents and runs of white space do not matter to a string search. Case is folded the way
 * Unicode's full case mapping does (upper, then lower case), so `Straße` is `strasse`, a dotless
 * `ı` is `i` and `ﬁ` is `fi`, as a reader who ignores case expects. Every sigma is `σ`: lower
 * casing writes a word's last one as `ς`, and a search value ends where a word may not (`Κωσ` is
 * the start of `Κωσταντίνος`).
 */
export function normalizeString(s: string): string {
  return capText(s.normalize('NFD').replace(/\p{M}/gu, '').toUpperCase().toLowerCase().replace(/ς/g, 'σ').replace(/\s+/g, ' ').trim());
}

/** `:exact` compares text as written, but in one Unicode form (NFC): `Müller` typed or pasted either way is the same name. */
export function exactString(s: string): string {
  return capText(s.normalize('NFC'));
}

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** Half-open range [low, high) in ISO form, with `-infinity`/`infinity` for open ends. */
export interface DateRange {
  low: string;
  high: string;
}

/**
 * The instants a FHIR date, dateTime or instant covers at its precision: `2020` is the whole year,
 * `2020-03-04` the whole day, `2020-03-04T10:00:00Z` one second. Dates and times without a zone
 * are read as UTC. Undefined when the text is not a FHIR date.
 */
export function dateRange(text: string): DateRange | undefined {
  const m = DATE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  if (year < 1) return undefined; // PostgreSQL has no year 0
  const month = mo ? Number(mo) - 1 : 0;
  const day = d ? Number(d) : 1;
  if (mo && (month < 0 || month > 11)) return undefined;
  if (d && (day < 1 || day > new Date(Date.UTC(year, month + 1, 0)).getUTCDate())) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59))) return undefined;
  if (h === undefined) {
    const low = Date.UTC(year, month, day);
    const high = !mo ? Date.UTC(year + 1, 0, 1) : !d ? Date.UTC(year, month + 1, 1) : Date.UTC(year, month, day + 1);
    return { low: iso(low, year), high: iso(high, year) };
  }
  // R4's dateTime allows offsets from -14:00 to +14:00.
  if (zone && zone !== 'Z' && (Number(zone.slice(4, 6)) > 59 || Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)) > 14 * 60)) return undefined;
  const offsetMin = !zone || zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  const base = Date.UTC(year, month, day, Number(h), Number(mi), s ? Number(s) : 0, ms) - offsetMin * 60_000;
  const step = frac ? 1 : s !== undefined ? 1000 : 60_000;
  return { low: iso(base, year), high: iso(base + step, year) };
}

function iso(ms: number, year: number): string {
  // Date.UTC maps years 0-99 to 1900-1999; FHIR years are four digits, so correct that.
  const d = new Date(ms);
  if (year < 100) d.setUTCFullYear(d.getUTCFullYear() - 1900);
  return d.toISOString();
}

/** The range a decimal stands for at its precision: `100` is [99.5, 100.5), `1.50` is [1.495, 1.505). */
export function numberRange(text: string): { value: string; low: string; high: string } | undefined {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  const [mantissa, exp] = text.toLowerCase().split('e');
  const decimals = mantissa.includes('.') ? mantissa.split('.')[1].length : 0;
  const scale = decimals - (exp ? Number(exp) : 0);
  const half = 0.5 * 10 ** -scale;
  const value = Number(text);
  if (!Number.isFinite(value)) return undefined;
  const round = (n: number) => String(Number(n.toPrecision(15)));
  return { value: String(value), low: round(value - half), high: round(value + half) };
}

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** `Type/id` (a version suffix is dropped), or undefined for other references. */
export function parseLocalReference(reference: string): { type: string; id: string } | undefined {
  const m = LOCAL_REF.exec(reference);
  return m ? { type: m[1], id: m[2] } : undefined;
}

/** Escapes LIKE's wildcards, so that user text is matched literally. */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The least string above every string that starts with `prefix`, in the byte order of the index
 * tables' "C" collation (UTF-8 bytes, so code point order): the prefix with its last code point
 * raised by one. undefined when there is none (the last code point is U+10FFFF). Pure.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = [...prefix];
  const last = points.pop();
  if (last === undefined) return undefined;
  let next = (last.codePointAt(0) as number) + 1;
  if (next >= 0xd800 && next <= 0xdfff) next = 0xe000; // surrogates are not characters
  if (next > 0x10ffff) return undefined;
  return points.join('') + String.fromCodePoint(next);
}
