/**
 * The text pipeline of the sentiment model, in TypeScript: exactly what the ONNX graph does
 * (StringNormalizer LOWER with the "C" locale, then the com.microsoft Tokenizer with TOKEN_PATTERN),
 * so that the vocabulary is built from the tokens the graph will see.
 */

/** RE2 syntax in the graph; the JS RegExp below is its equivalent. Apostrophes inside words stay ("don't"). */
export const TOKEN_PATTERN = "[a-z0-9\\x{00C0}-\\x{024F}]+(?:'[a-z0-9\\x{00C0}-\\x{024F}]+)*";
const TOKEN_RE = /[a-z0-9\u00C0-\u024F]+(?:'[a-z0-9\u00C0-\u024F]+)*/gu;

/** Lower-casing of the "C" locale: ASCII letters only (other letters are kept as they are). */
export function lowerC(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

export function tokenize(text: string): string[] {
  return lowerC(text).match(TOKEN_RE) ?? [];
}

/** Unigrams and contiguous bigrams ("a b") of a token list. */
export function ngrams(tokens: readonly string[], maxN: 1 | 2): string[] {
  const out = tokens.slice();
  if (maxN === 2) for (let i = 0; i + 1 < tokens.length; i++) out.push(`${tokens[i]} ${tokens[i + 1]}`);
  return out;
}

export interface Vocabulary {
  unigrams: string[];
  /** Each as "first second". */
  bigrams: string[];
  /** n-gram -> column: unigrams first, then bigrams. */
  index: Map<string, number>;
}

/**
 * N-grams whose document frequency in `docs` is at least minDf (unigrams) / minDfBigram (bigrams),
 * each list sorted (code-unit order) so that the vocabulary does not depend on row order.
 */
export function buildVocabulary(docs: readonly string[][], minDf: number, minDfBigram: number): Vocabulary {
  const df = new Map<string, number>();
  for (const tokens of docs) for (const g of new Set(ngrams(tokens, 2))) df.set(g, (df.get(g) ?? 0) + 1);
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const unigrams = [...df].filter(([g, c]) => !g.includes(' ') && c >= minDf).map(([g]) => g).sort(cmp);
  const bigrams = [...df].filter(([g, c]) => g.includes(' ') && c >= minDfBigram).map(([g]) => g).sort(cmp);
  const index = new Map<string, number>();
  [...unigrams, ...bigrams].forEach((g, i) => index.set(g, i));
  return { unigrams, bigrams, index };
}

/** Sorted column indices of the vocabulary n-grams present in the tokens (binary bag of n-grams). */
export function presentColumns(tokens: readonly string[], vocab: Vocabulary): number[] {
  const cols = new Set<number>();
  for (const g of ngrams(tokens, 2)) {
    const c = vocab.index.get(g);
    if (c !== undefined) cols.add(c);
  }
  return [...cols].sort((a, b) => a - b);
}
