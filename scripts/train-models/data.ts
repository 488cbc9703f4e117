import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Readers for the labelled data sets of /work/shared/datasets (see its MANIFEST.md). Pure parsing
 * functions take the file's text, so that they are tested without the files; `read*` wrappers
 * take the datasets folder.
 */

/** A row of the UCI Heart Disease (Cleveland) file: 13 features, '?' read as null. */
export interface ClevelandRow {
  /** age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal. */
  features: (number | null)[];
  /** num: 0 = no disease, 1-4 = disease. */
  num: number;
}

export const CLEVELAND_COLUMNS = ['age', 'sex', 'cp', 'trestbps', 'chol', 'fbs', 'restecg', 'thalach', 'exang', 'oldpeak', 'slope', 'ca', 'thal'] as const;

function isHeader(line: string): boolean {
  const first = line.split(/[,\t]/)[0].trim();
  return first !== '' && !/^[-+]?\d/.test(first);
}

function toNumber(raw: string, where: string): number {
  const s = raw.trim();
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`${where}: '${raw}' is not a number`);
  return Number(s);
}

/** Comma-separated lines without quoting (these files have none); blank lines dropped, a header line (first field not a number) skipped. */
export function splitCsv(text: string): string[][] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const rows: string[][] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    if (i === 0 && isHeader(line)) return;
    rows.push(line.split(',').map((f) => f.trim()));
  });
  return rows;
}

export function parseCleveland(text: string): ClevelandRow[] {
  return splitCsv(text).map((fields, i) => {
    const where = `processed.cleveland.data row ${i + 1}`;
    if (fields.length !== 14) throw new Error(`${where}: ${fields.length} fields, expected 14`);
    const features = fields.slice(0, 13).map((f) => (f === '?' ? null : toNumber(f, where)));
    const num = toNumber(fields[13], where);
    if (!Number.isInteger(num) || num < 0 || num > 4) throw new Error(`${where}: num ${num} is not 0-4`);
    return { features, num };
  });
}

export interface WdbcRow {
  id: string;
  malignant: boolean;
  /** The 30 features in file order: mean, standard error, worst of the ten nuclear measurements. */
  features: number[];
}

export const WDBC_MEASUREMENTS = ['radius', 'texture', 'perimeter', 'area', 'smoothness', 'compactness', 'concavity', 'concave_points', 'symmetry', 'fractal_dimension'] as const;
export const WDBC_STATISTICS = ['mean', 'se', 'worst'] as const;
/** radius_mean ... fractal_dimension_worst, in file order. */
export const WDBC_COLUMNS: string[] = WDBC_STATISTICS.flatMap((s) => WDBC_MEASUREMENTS.map((m) => `${m}_${s}`));

export function parseWdbc(text: string): WdbcRow[] {
  return splitCsv(text).map((fields, i) => {
    const where = `wdbc.data row ${i + 1}`;
    if (fields.length !== 32) throw new Error(`${where}: ${fields.length} fields, expected 32`);
    const dx = fields[1];
    if (dx !== 'M' && dx !== 'B') throw new Error(`${where}: diagnosis '${dx}' is not M or B`);
    return { id: fields[0], malignant: dx === 'M', features: fields.slice(2).map((f) => toNumber(f, where)) };
  });
}

export interface Sentence {
  text: string;
  /** 1 positive, 0 negative. */
  label: 0 | 1;
  source: string;
}

/**
 * One UCI Sentiment Labelled Sentences file: `sentence<TAB>0|1` a line (the mirror's header line
 * `reviews<TAB>sentiment` skipped). Lines are split on LF only: the IMDb file holds U+0085 (NEL)
 * inside sentences. The text is kept as is, trailing blanks trimmed.
 */
export function parseSentences(text: string, source: string): Sentence[] {
  const out: Sentence[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (!line.trim()) return;
    const tab = line.lastIndexOf('\t');
    if (tab < 0) throw new Error(`${source} line ${i + 1}: no tab`);
    const label = line.slice(tab + 1).trim();
    if (i === 0 && label === 'sentiment') return;
    if (label !== '0' && label !== '1') throw new Error(`${source} line ${i + 1}: label '${label}' is not 0 or 1`);
    out.push({ text: line.slice(0, tab).trim(), label: label === '1' ? 1 : 0, source });
  });
  return out;
}

export const SENTIMENT_FILES = ['amazon_cells_labelled.txt', 'imdb_labelled.txt', 'yelp_labelled.txt'] as const;

/** Throws a clear error naming what is missing. */
export function checkDatasets(dir: string): void {
  const needed = ['processed.cleveland.data', 'wdbc.data', ...SENTIMENT_FILES];
  if (!existsSync(dir)) throw new DatasetsMissingError(`datasets folder not found: ${dir}`);
  const missing = needed.filter((f) => !existsSync(join(dir, f)));
  if (missing.length) throw new DatasetsMissingError(`datasets folder ${dir} lacks ${missing.join(', ')}`);
}

export class DatasetsMissingError extends Error {}

export function readCleveland(dir: string): ClevelandRow[] {
  return parseCleveland(readFileSync(join(dir, 'processed.cleveland.data'), 'utf8'));
}

export function readWdbc(dir: string): WdbcRow[] {
  return parseWdbc(readFileSync(join(dir, 'wdbc.data'), 'utf8'));
}

export function readSentences(dir: string): Sentence[] {
  return SENTIMENT_FILES.flatMap((f) => parseSentences(readFileSync(join(dir, f), 'utf8'), f));
}
