import { MIN_KNOWN_WORD_SHARE, unknownTextRefusal, wordsOf } from '../../src/ai/features/text.features';
import { buildVocabulary, tokenize } from './text';

/** How the server's known-word check (src/ai/features/text.features.ts) treats held-out English sentences. */
export interface KnownWordCheck {
  /** Held-out sentences with at least one word. */
  n: number;
  /** Those the check refuses (false refusals: every sentence is English). */
  refused: string[];
  /** The 1st and 5th percentile of the known-word share. */
  p1: number;
  p5: number;
}

/**
 * The known-word check on held-out sentences, with the vocabulary the shipped model learnt from
 * the training sentences (a word alone matches a vocabulary n-gram exactly when it is one of its
 * unigrams, which is what the server asks the model). Pure.
 */
export function knownWordCheck(train: readonly string[], heldOut: readonly string[]): KnownWordCheck {
  const { unigrams } = buildVocabulary(train.map(tokenize), 1, 2);
  const known = new Set(unigrams);
  const texts = heldOut.filter((t) => wordsOf(t).length > 0);
  const shares = texts.map((t) => wordsOf(t).filter((w) => known.has(w)).length / wordsOf(t).length).sort((a, b) => a - b);
  const at = (q: number) => shares[Math.floor(q * (shares.length - 1))];
  return { n: texts.length, refused: texts.filter((t) => unknownTextRefusal(wordsOf(t), known) !== undefined), p1: at(0.01), p5: at(0.05) };
}

/** The model card's section on the check. */
export function knownWordSection(c: KnownWordCheck): { title: string; body: string } {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  return {
    title: 'Known words (the server refuses other text)',
    body: [
      `The model reads English only. Before scoring, the server asks this version which of the text's words it knows (each word alone through the model: matched_ngrams > 0) and refuses text of which fewer than ${MIN_KNOWN_WORD_SHARE * 100} % of the words are known (src/ai/features/text.features.ts); the job fails at once with the reason and no score is written.`,
      `Measured on the ${c.n} held-out English sentences (with a word) against the training vocabulary: ${c.refused.length} refused (false-refusal rate ${pct(c.refused.length / c.n)}): ${c.refused.map((t) => `"${t}"`).join(', ')}; known-word share 1st percentile ${c.p1.toFixed(2)}, 5th percentile ${c.p5.toFixed(2)}.`,
      'German, French, Italian, Dutch and Danish feedback sentences written for the check score 0 to 0.22 and are refused. Spanish or Portuguese text that shares many words with English ("La comida era horrible...": 0.60) can still pass and gets a score of little meaning; short English text with typos or rare words (one known word of three) is refused.',
    ].join('\n\n'),
  };
}
