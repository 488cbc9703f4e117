import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readSentences } from './data';
import { SEED, TEST_FRACTION } from './sentiment';
import { knownWordCheck, knownWordSection } from './sentiment-known-words';
import { stratifiedSplit } from './stats';

/**
 * The server's known-word check against the UCI sentences (../shared/datasets): the held-out
 * English sentences are nearly never refused, and the model card says how often.
 */
describe('the known-word check on the sentiment data', () => {
  const sentences = readSentences(resolve(__dirname, '../../../shared/datasets'));
  const { train, test } = stratifiedSplit(sentences.map((s) => s.label), TEST_FRACTION, SEED);
  const check = knownWordCheck(train.map((i) => sentences[i].text), test.map((i) => sentences[i].text));

  it('refuses at most 1 % of the held-out English sentences', () => {
    expect(check.n).toBe(599);
    expect(check.refused.length / check.n).toBeLessThanOrEqual(0.01);
    expect(check.refused).toEqual(['Poorly contstruct hinge.', 'Appetite instantly gone.']);
  });

  it('is reported in the model card as measured', () => {
    const card = readFileSync(join(__dirname, '../../models/sentiment-uci/model-card.md'), 'utf8');
    const section = knownWordSection(check);
    expect(card).toContain(`## ${section.title}\n\n${section.body}\n`);
  });
});
