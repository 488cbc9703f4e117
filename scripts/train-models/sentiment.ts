import type { Sentence } from './data';
import { metadataFor } from './diagnosis';
import { DATASETS, type ModelManifest } from './manifest';
import { sigmoid, trainLogistic, type SparseRow } from './models';
import { DataType, GraphBuilder, MS_DOMAIN, attr, encodeModel, floatTensor, int64Tensor, valueInfo } from './onnx';
import { binaryMetrics, stratifiedFolds, stratifiedSplit, summarise, type BinaryMetrics } from './stats';
import { TOKEN_PATTERN, buildVocabulary, presentColumns, tokenize, type Vocabulary } from './text';
import { fmt, sig, type TaskOutput } from './task';
import { knownWordCheck, knownWordSection } from './sentiment-known-words';

/**
 * sentiment-uci: a score in [-1, 1] for a sentence. Binary bag of unigrams and bigrams with
 * naive-Bayes log-count-ratio scaling (NBSVM-style features; Wang & Manning 2012) and an
 * L2 logistic regression. The whole text pipeline is in the ONNX graph: the input is the raw text.
 */

export const TEST_FRACTION = 0.2;
export const SEED = 1;
export const REPEAT_SEEDS = [1, 2, 3, 4, 5];
export const MIN_DF_UNIGRAM = 1;
export const MIN_DF_BIGRAM = 2;
/** Additive smoothing of the naive-Bayes counts. */
export const NB_ALPHA = 0.5;
export const LAMBDA_GRID = [1e-4, 3e-4, 1e-3, 3e-3];

export interface SentimentModel {
  vocab: Vocabulary;
  /** Per n-gram weight (logistic coefficient x naive-Bayes ratio): the logit is bias + the sum over present n-grams. */
  weights: Float64Array;
  bias: number;
}

/** Naive-Bayes log-count ratios of the n-gram columns. */
function nbRatios(cols: number[][], y: readonly number[], dim: number): Float64Array {
  const pos = new Float64Array(dim).fill(NB_ALPHA);
  const neg = new Float64Array(dim).fill(NB_ALPHA);
  cols.forEach((c, i) => {
    for (const j of c) (y[i] ? pos : neg)[j] += 1;
  });
  let ps = 0;
  let ns = 0;
  for (let j = 0; j < dim; j++) {
    ps += pos[j];
    ns += neg[j];
  }
  return Float64Array.from(pos, (p, j) => Math.log(p / ps / (neg[j] / ns)));
}

export function fitSentiment(tokens: readonly string[][], y: readonly number[], lambda: number): SentimentModel {
  const vocab = buildVocabulary(tokens, MIN_DF_UNIGRAM, MIN_DF_BIGRAM);
  const dim = vocab.index.size;
  const cols = tokens.map((t) => presentColumns(t, vocab));
  const r = nbRatios(cols, y, dim);
  const rows: SparseRow[] = cols.map((c) => ({ idx: Int32Array.from(c), val: Float64Array.from(c, (j) => r[j]) }));
  const m = trainLogistic(rows, y, dim, lambda);
  return { vocab, weights: Float64Array.from(m.weights, (w, j) => w * r[j]), bias: m.bias };
}

/** The model's positive probability and score for tokenised text, exactly as the graph computes them. */
export function scoreTokens(model: SentimentModel, tokens: readonly string[]): { probability: number; score: number; matched: number } {
  const cols = presentColumns(tokens, model.vocab);
  if (!cols.length) return { probability: 0.5, score: 0, matched: 0 };
  let z = model.bias;
  for (const j of cols) z += model.weights[j];
  const p = sigmoid(z);
  return { probability: p, score: 2 * p - 1, matched: cols.length };
}

function chooseLambda(tokens: readonly string[][], y: readonly number[], seed: number): { lambda: number; scores: { lambda: number; logLoss: number }[] } {
  const folds = stratifiedFolds(y, 5, seed);
  const scores = LAMBDA_GRID.map((lambda) => {
    let ll = 0;
    for (const fold of folds) {
      const inFold = new Set(fold);
      const tr = y.map((_, i) => i).filter((i) => !inFold.has(i));
      const m = fitSentiment(tr.map((i) => tokens[i]), tr.map((i) => y[i]), lambda);
      const probs = fold.map((i) => scoreTokens(m, tokens[i]).probability);
      ll += binaryMetrics(fold.map((i) => y[i]), probs).logLoss / folds.length;
    }
    return { lambda, logLoss: ll };
  });
  return { lambda: scores.reduce((a, b) => (b.logLoss < a.logLoss ? b : a)).lambda, scores };
}

interface Run {
  model: SentimentModel;
  lambda: number;
  cv: { lambda: number; logLoss: number }[];
  train: number[];
  test: number[];
  probs: number[];
  metrics: BinaryMetrics;
}

function run(tokens: readonly string[][], y: readonly number[], seed: number): Run {
  const { train, test } = stratifiedSplit(y, TEST_FRACTION, seed);
  const trTokens = train.map((i) => tokens[i]);
  const trY = train.map((i) => y[i]);
  const cv = chooseLambda(trTokens, trY, seed + 1000);
  const model = fitSentiment(trTokens, trY, cv.lambda);
  const probs = test.map((i) => scoreTokens(model, tokens[i]).probability);
  return { model, lambda: cv.lambda, cv: cv.scores, train, test, probs, metrics: binaryMetrics(test.map((i) => y[i]), probs) };
}

export function buildSentimentGraph(model: SentimentModel): GraphBuilder {
  const g = new GraphBuilder();
  const { unigrams, bigrams } = model.vocab;
  const v = unigrams.length + bigrams.length;
  g.op('StringNormalizer', ['text'], 'text_lower', [attr.string('case_change_action', 'LOWER'), attr.string('locale', 'C')]);
  g.op('Tokenizer', ['text_lower'], 'tokens', [attr.int('mark', 0), attr.int('mincharnum', 1), attr.string('pad_value', ''), attr.string('tokenexp', TOKEN_PATTERN)], MS_DOMAIN);
  g.op(
    'TfIdfVectorizer',
    ['tokens'],
    'ngram_counts',
    [
      attr.string('mode', 'TF'),
      attr.int('min_gram_length', 1),
      attr.int('max_gram_length', 2),
      attr.int('max_skip_count', 0),
      attr.ints('ngram_counts', [0, unigrams.length]),
      attr.ints('ngram_indexes', Array.from({ length: v }, (_, i) => i)),
      attr.strings('pool_strings', [...unigrams, ...bigrams.flatMap((b) => b.split(' '))]),
    ],
  );
  const one = g.constant(floatTensor('one', [1], [1]));
  g.op('Min', ['ngram_counts', one], 'ngram_present');
  g.op('MatMul', ['ngram_present', g.constant(floatTensor('coefficients', [v, 1], model.weights))], 'linear');
  g.op('Add', ['linear', g.constant(floatTensor('intercept', [1], [model.bias]))], 'logit');
  g.op('Sigmoid', ['logit'], 'raw_probability');
  g.op('ReduceSum', ['ngram_present', g.constant(int64Tensor('feature_axis', [1], [1]))], 'matched_ngrams', [attr.int('keepdims', 1)]);
  g.op('Min', ['matched_ngrams', one], 'has_evidence');
  g.op('Mul', ['raw_probability', g.constant(floatTensor('two', [1], [2]))], 'twice_probability');
  g.op('Sub', ['twice_probability', one], 'raw_score');
  g.op('Mul', ['raw_score', 'has_evidence'], 'masked_score');
  // + 0 turns the -0 of a negative raw score times 0 evidence into 0.
  g.op('Add', ['masked_score', g.constant(floatTensor('zero', [1], [0]))], 'score');
  const half = g.constant(floatTensor('half', [1], [0.5]));
  g.op('Mul', ['score', half], 'half_score');
  g.op('Add', ['half_score', half], 'probability');
  return g;
}

export function trainSentiment(sentences: Sentence[], producerVersion: string): TaskOutput {
  const tokens = sentences.map((s) => tokenize(s.text));
  const y = sentences.map((s) => s.label);
  const main = run(tokens, y, SEED);
  const repeats = REPEAT_SEEDS.map((s) => (s === SEED ? main : run(tokens, y, s)).metrics);
  const acc = summarise(repeats.map((m) => m.accuracy));
  const aucs = summarise(repeats.map((m) => m.auc));
  const m = main.metrics;
  const [[tn, fp], [fn, tp]] = m.confusion;
  const bySource = [...new Set(sentences.map((s) => s.source))].map((src) => {
    const idx = main.test.map((i, k) => [i, k] as const).filter(([i]) => sentences[i].source === src);
    const ok = idx.filter(([i, k]) => (main.probs[k] >= 0.5 ? 1 : 0) === y[i]).length;
    return `${src.replace('_labelled.txt', '')} ${fmt(ok / idx.length)} (n=${idx.length})`;
  });
  const noEvidence = main.test.filter((i) => scoreTokens(main.model, tokens[i]).matched === 0).length;
  const vocabSize = main.model.vocab.index.size;
  const report = [
    `sentiment-uci: ${sentences.length} sentences (${y.filter((v) => v === 1).length} positive); stratified 80/20 split, seed ${SEED}: ${main.train.length} training, ${main.test.length} held out`,
    `  vocabulary from the training split: ${main.model.vocab.unigrams.length} unigrams (document frequency >= ${MIN_DF_UNIGRAM}) + ${main.model.vocab.bigrams.length} bigrams (>= ${MIN_DF_BIGRAM}) = ${vocabSize}`,
    `  L2 strength (lambda) ${main.lambda}, chosen by 5-fold cross-validated log-loss on the training split; naive-Bayes smoothing ${NB_ALPHA}`,
    `held-out metrics (positive when score >= 0):`,
    `  accuracy ${fmt(m.accuracy)}   AUC ${fmt(m.auc)}   sensitivity ${fmt(m.sensitivity)}   specificity ${fmt(m.specificity)}   Brier ${fmt(m.brier, 4)}`,
    `  confusion: true negative ${tn}, false positive ${fp}, false negative ${fn}, true positive ${tp}`,
    `  accuracy by source: ${bySource.join(', ')}`,
    `  held-out sentences with no vocabulary n-gram (score 0): ${noEvidence}`,
    `same procedure over seeds ${REPEAT_SEEDS.join(', ')}: accuracy ${fmt(acc.mean)} ± ${fmt(acc.sd)}, AUC ${fmt(aucs.mean)} ± ${fmt(aucs.sd)}`,
  ].join('\n');

  const manifest: Omit<ModelManifest, 'model'> = {
    schema: 'fhir-ai-server/model-manifest/1',
    name: 'sentiment-uci',
    version: '1.0.0',
    task: 'sentiment',
    title: 'Sentiment of free text (bag of n-grams, UCI sentences)',
    description:
      'A sentiment score in [-1, 1] (2p - 1, p the probability that the text is positive) for short English free text such as patient feedback. The tokenizer and vocabulary are inside the ONNX graph: the input is the raw text.',
    inputs: [
      {
        name: 'text',
        kind: 'text',
        description: 'raw text, one string per row (English; a sentence or a short paragraph)',
        source: 'free text, e.g. QuestionnaireResponse.item.answer.valueString (feedback), Communication.payload.contentString (therapy sessions)',
        code: { system: 'urn:fhir-ai-server:sentiment', code: 'free-text', display: 'Free text' },
        tensor: { elementType: 'string', shape: ['N'] },
      },
    ],
    minRealInputs: 1,
    outputs: [
      { name: 'score', description: 'sentiment score 2p - 1: -1 negative ... +1 positive; exactly 0 when the text holds no vocabulary n-gram (including empty text)', elementType: 'float32', shape: ['N', 1], range: [-1, 1] },
      { name: 'probability', description: '(score + 1) / 2: probability that the text is positive (0.5 when there is no evidence)', elementType: 'float32', shape: ['N', 1], range: [0, 1] },
      { name: 'matched_ngrams', description: 'number of distinct vocabulary unigrams and bigrams found in the text (0: no evidence)', elementType: 'float32', shape: ['N', 1], range: [0, vocabSize] },
    ],
    threshold: { output: 'score', value: 0, meaning: 'score >= 0 reads as positive, < 0 as negative (the held-out accuracy is at this cut); |score| < 0.3 is weak evidence either way' },
    training: {
      data: [DATASETS.sentiment],
      rows: sentences.length,
      split: `stratified 80/20, seed ${SEED}; the shipped model (and its vocabulary) is the one fitted on the ${main.train.length} training sentences`,
      seed: SEED,
      preprocessing: [
        'lower-casing: StringNormalizer LOWER with the "C" locale (ASCII letters only; the locale exists on every platform, unlike en_US.UTF-8)',
        `tokens: maximal runs of the regular expression ${TOKEN_PATTERN} (ASCII letters, digits and Latin letters U+00C0-U+024F, apostrophes inside words kept: "don't"); everything else (punctuation, spaces) separates tokens`,
        `features: presence (0/1) of each vocabulary unigram and contiguous bigram (TfIdfVectorizer TF counts clipped at 1)`,
        `naive-Bayes log-count ratios (smoothing ${NB_ALPHA}) scale the features before the logistic regression; the ratios are folded into the exported coefficients`,
      ],
      algorithm: 'logistic regression, L2-penalised, fitted by L-BFGS from zero weights, on NB-scaled binary n-gram features (NBSVM-style)',
      hyperparameters: { lambda: main.lambda, lambdaGrid: LAMBDA_GRID, cvLogLoss: main.cv.map((c) => sig(c.logLoss, 4)), minDfUnigram: MIN_DF_UNIGRAM, minDfBigram: MIN_DF_BIGRAM, nbAlpha: NB_ALPHA, vocabulary: vocabSize },
    },
    metrics: {
      evaluation: `held-out 20% (stratified, seed ${SEED})`,
      n: m.n,
      positives: m.positives,
      accuracy: sig(m.accuracy, 4),
      auc: sig(m.auc, 4),
      sensitivity: sig(m.sensitivity, 4),
      specificity: sig(m.specificity, 4),
      brier: sig(m.brier, 4),
      confusion: { trueNegative: tn, falsePositive: fp, falseNegative: fn, truePositive: tp },
      repeatedSplits: { seeds: REPEAT_SEEDS, accuracy: { mean: sig(acc.mean, 4), sd: sig(acc.sd, 4) }, auc: { mean: sig(aucs.mean, 4), sd: sig(aucs.sd, 4) } },
    },
    intendedUse:
      'Ranking and flagging free-text feedback for human review (e.g. surfacing clearly negative patient feedback). Not a measure of mood, risk or mental state, and not for decisions about a patient without a clinician reading the text.',
    limitations: [
      'Trained on 3000 product, film and restaurant review sentences (Amazon, IMDb, Yelp), not on clinical or patient text: medical words ("negative" test, "positive" result, "pain") carry review-domain meanings or none.',
      'A bag of words: negation beyond adjacent pairs ("not good" is a bigram; "not at all good" is not), sarcasm and context are missed.',
      'English only; lower-casing is ASCII-only (the "C" locale), so capitalised accented letters stay distinct.',
      'Text with no known n-gram scores exactly 0 (matched_ngrams = 0): treat as "no evidence", not as neutral sentiment.',
      'Uses the onnxruntime contrib operator com.microsoft.Tokenizer: the model runs on onnxruntime (CPU), not on runtimes without that operator.',
    ],
  };
  const graph = buildSentimentGraph(main.model);
  const bytes = encodeModel({
    graphName: 'sentiment_uci',
    graph,
    inputs: [valueInfo('text', DataType.STRING, ['N'], 'raw text, one string per row')],
    outputs: [
      valueInfo('score', DataType.FLOAT, ['N', 1], 'sentiment score in [-1, 1]'),
      valueInfo('probability', DataType.FLOAT, ['N', 1], 'probability that the text is positive'),
      valueInfo('matched_ngrams', DataType.FLOAT, ['N', 1], 'distinct vocabulary n-grams found'),
    ],
    docString: manifest.description,
    metadata: metadataFor(manifest),
    producerVersion,
    modelVersion: 1,
  });
  // Parity over every sentence (train and test) plus edge cases: the graph's tokenizer must agree with tokenize().
  const extra = ['', '   ', '!!!', 'GREAT!!!', "Don't buy it.", 'ÉCOLE naïve café', 'good\tbad\nugly'];
  const texts = [...sentences.map((s) => s.text), ...extra];
  return {
    name: 'sentiment-uci',
    bytes,
    manifest,
    report,
    cardSections: [knownWordSection(knownWordCheck(main.train.map((i) => sentences[i].text), main.test.map((i) => sentences[i].text)))],
    parity: {
      feeds: { text: { type: 'string', data: texts, dims: [texts.length] } },
      output: 'score',
      expected: texts.map((t) => scoreTokens(main.model, tokenize(t)).score),
      tolerance: 1e-5,
      what: `all ${sentences.length} sentences and ${extra.length} edge cases (empty, blank, punctuation only, accents, tabs/newlines)`,
    },
  };
}
