import { numberText, positionalLexeme } from './json/lexemes';

/**
 * JSON with object keys sorted at every level: one text per value, for comparing and hashing.
 * Numbers are written as their kept lexemes (json/lexemes.ts): 1.50 is not the same content as 1.5;
 * in positional notation, as jsonb stores them, so that `1.2e10` sent again equals what was stored.
 * Pure.
 */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x, i) => (typeof x === 'number' ? positionalLexeme(numberText(v, i, x)) : canonicalJson(x))).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${typeof o[k] === 'number' ? positionalLexeme(numberText(o, k, o[k] as number)) : canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
