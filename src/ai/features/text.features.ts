/**
 * The words of a text as the sentiment model's tokenizer sees them (its manifest's preprocessing:
 * ASCII lower-casing, runs of [a-z0-9] and Latin letters U+00C0-U+024F, apostrophes inside words
 * kept), numbers left out: a number says nothing about the language. Pure.
 */
export function wordsOf(text: string): string[] {
  const lower = text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return (lower.match(/[a-z0-9\u00C0-\u024F]+(?:'[a-z0-9\u00C0-\u024F]+)*/gu) ?? []).filter((w) => /[a-z\u00C0-\u024F]/u.test(w));
}

/**
 * The least share of a text's words the sentiment model must know to score it. Derived from the
 * UCI sentences the model was trained on (models/sentiment-uci/model-card.md, "Known words"): of
 * the 599 held-out English sentences with a word, 2 (0.3 %) fall below it, while German, French,
 * Italian and Dutch feedback falls far below (0 to 0.22).
 */
export const MIN_KNOWN_WORD_SHARE = 0.4;

/**
 * Why a text cannot be scored by a model that knows only the `known` words (evidently not
 * English, or too little of it known), or undefined when it can. Pure.
 */
export function unknownTextRefusal(words: readonly string[], known: ReadonlySet<string>, minShare = MIN_KNOWN_WORD_SHARE): string | undefined {
  if (!words.length) return 'the text holds no word';
  const n = words.filter((w) => known.has(w)).length;
  if (n / words.length >= minShare) return undefined;
  const pct = Math.round((100 * n) / words.length);
  return `only ${n} of ${words.length} words (${pct} %) are known to the model, at least ${Math.round(minShare * 100)} % are needed (it reads English only)`;
}
