import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetsMissingError, WDBC_COLUMNS, checkDatasets, parseCleveland, parseSentences, parseWdbc, splitCsv } from './data';

describe('CSV parsing', () => {
  it('skips a header line and blank lines, trims fields', () => {
    expect(splitCsv('(a),(b)\n1, 2\n\n3,4\r\n')).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
    expect(splitCsv('1,2\n3,4')).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
  });

  it('reads the Cleveland file: 13 features, ? as null, num 0-4', () => {
    const text = '(age),(sex),(cp),(trestbps),(chol),(fbs),(restecg),(thalach),(exang),(oldpeak),(slope),(ca),(thal),(num)\n' + '63.0,1.0,1.0,145.0,233.0,1.0,2.0,150.0,0.0,2.3,3.0,0.0,6.0,0\n' + '53.0,0.0,3.0,128.0,216.0,0.0,2.0,115.0,0.0,0.0,1.0,?,?,2\n';
    const rows = parseCleveland(text);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual({ features: [63, 1, 1, 145, 233, 1, 2, 150, 0, 2.3, 3, 0, 6], num: 0 });
    expect(rows[1].features.slice(11)).toEqual([null, null]);
    expect(rows[1].num).toBe(2);
  });

  it('rejects malformed Cleveland rows', () => {
    expect(() => parseCleveland('63,1,1\n')).toThrow(/3 fields, expected 14/);
    expect(() => parseCleveland('63,1,1,145,233,1,2,150,0,2.3,3,0,6,9\n')).toThrow(/num 9/);
    expect(() => parseCleveland('63,1,1,145,abc,1,2,150,0,2.3,3,0,6,0\n')).toThrow(/'abc' is not a number/);
  });

  it('reads WDBC rows: id, M/B, 30 features', () => {
    const feats = Array.from({ length: 30 }, (_, i) => (i + 0.5).toString());
    const rows = parseWdbc(`ID, Diagnosis, Size\n842302,M,${feats.join(',')}\n1,B,${feats.join(',')}\n`);
    expect(rows.map((r) => [r.id, r.malignant])).toEqual([
      ['842302', true],
      ['1', false],
    ]);
    expect(rows[0].features).toHaveLength(30);
    expect(rows[0].features[29]).toBe(29.5);
    expect(WDBC_COLUMNS).toHaveLength(30);
    expect(WDBC_COLUMNS[0]).toBe('radius_mean');
    expect(WDBC_COLUMNS[29]).toBe('fractal_dimension_worst');
    expect(() => parseWdbc(`1,X,${feats.join(',')}\n`)).toThrow(/not M or B/);
  });

  it('reads sentence files: header skipped, split on LF only, trailing blanks trimmed', () => {
    const text = 'reviews\tsentiment\nGood case, Excellent value.\t1\nA slow\u0085 movie.  \t0\n';
    expect(parseSentences(text, 'x.txt')).toEqual([
      { text: 'Good case, Excellent value.', label: 1, source: 'x.txt' },
      { text: 'A slow\u0085 movie.', label: 0, source: 'x.txt' },
    ]);
    expect(() => parseSentences('no tab here\n', 'x.txt')).toThrow(/no tab/);
    expect(() => parseSentences('text\t2\n', 'x.txt')).toThrow(/label '2'/);
  });
});

describe('checkDatasets', () => {
  it('names the missing folder or files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'datasets-'));
    try {
      expect(() => checkDatasets(join(dir, 'nope'))).toThrow(DatasetsMissingError);
      writeFileSync(join(dir, 'wdbc.data'), '');
      expect(() => checkDatasets(dir)).toThrow(/lacks processed.cleveland.data, amazon_cells_labelled.txt/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
