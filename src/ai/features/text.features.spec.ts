import { MIN_KNOWN_WORD_SHARE, unknownTextRefusal, wordsOf } from './text.features';

describe('wordsOf', () => {
  it("splits as the model's tokenizer does, ASCII lower-cased, apostrophes kept, numbers left out", () => {
    expect(wordsOf("Don't WAIT 3 hours, it's awful!")).toEqual(["don't", 'wait', 'hours', "it's", 'awful']);
    expect(wordsOf('Ich bin sehr enttäuscht')).toEqual(['ich', 'bin', 'sehr', 'enttäuscht']);
    expect(wordsOf('42 !!! 7')).toEqual([]);
  });
});

describe('unknownTextRefusal', () => {
  const known = new Set(['the', 'staff', 'were', 'kind', 'war', 'die']);

  it('lets through text whose words the model mostly knows', () => {
    expect(unknownTextRefusal(['the', 'staff', 'were', 'kind'], known)).toBeUndefined();
    expect(unknownTextRefusal(['the', 'staff', 'were', 'wonderfull', 'kindly'], known)).toBeUndefined(); // 3 of 5
  });

  it('refuses text with too small a share of known words, saying how many', () => {
    const german = wordsOf('Die Behandlung war eine Katastrophe, ich bin sehr enttäuscht');
    expect(unknownTextRefusal(german, known)).toBe('only 2 of 9 words (22 %) are known to the model, at least 40 % are needed (it reads English only)');
    expect(unknownTextRefusal(['zzqx', 'vvbn'], known)).toMatch(/^only 0 of 2 words/);
    expect(unknownTextRefusal([], known)).toBe('the text holds no word');
  });

  it('refuses exactly below the least share', () => {
    expect(MIN_KNOWN_WORD_SHARE).toBe(0.4);
    expect(unknownTextRefusal(['the', 'a', 'b', 'c', 'd'], known)).toBeDefined(); // 1 of 5
    expect(unknownTextRefusal(['the', 'staff', 'b', 'c', 'd'], known)).toBeUndefined(); // 2 of 5
  });
});
