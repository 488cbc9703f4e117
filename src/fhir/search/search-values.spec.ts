import { capText, dateRange, escapeLike, exactString, normalizeString, numberRange, parseLocalReference, prefixUpperBound } from './search-values';
import { parseSearchRequest, splitUnescaped } from './search-request';
import { OperationOutcomeError } from '../operation-outcome';

describe('dateRange', () => {
  it('covers the whole year, month or day at that precision (UTC)', () => {
    expect(dateRange('2020')).toEqual({ low: '2020-01-01T00:00:00.000Z', high: '2021-01-01T00:00:00.000Z' });
    expect(dateRange('2020-02')).toEqual({ low: '2020-02-01T00:00:00.000Z', high: '2020-03-01T00:00:00.000Z' });
    expect(dateRange('2020-12-31')).toEqual({ low: '2020-12-31T00:00:00.000Z', high: '2021-01-01T00:00:00.000Z' });
  });

  it('covers one second, one minute or one millisecond with a time, honouring the zone', () => {
    expect(dateRange('2020-01-01T10:00:00+02:00')).toEqual({ low: '2020-01-01T08:00:00.000Z', high: '2020-01-01T08:00:01.000Z' });
    expect(dateRange('2020-01-01T10:00Z')).toEqual({ low: '2020-01-01T10:00:00.000Z', high: '2020-01-01T10:01:00.000Z' });
    expect(dateRange('2020-01-01T10:00:00.250Z')).toEqual({ low: '2020-01-01T10:00:00.250Z', high: '2020-01-01T10:00:00.251Z' });
  });

  it('refuses what is not a date', () => {
    for (const bad of ['2020-13', '2020-02-30', '2020-01-01T25:00:00Z', 'abc', '0000', '20200101', '2020-1-1', "2020'--"]) expect(dateRange(bad)).toBeUndefined();
  });

  it('takes time-zone offsets from -14:00 to +14:00, as R4 dateTime does', () => {
    expect(dateRange('2020-01-01T10:00:00+14:00')?.low).toBe('2019-12-31T20:00:00.000Z');
    expect(dateRange('2020-01-01T10:00:00-12:30')?.low).toBe('2020-01-01T22:30:00.000Z');
    for (const bad of ['2020-01-01T10:00:00+99:00', '2020-01-01T10:00:00+14:30', '2020-01-01T10:00:00-15:00', '2020-01-01T10:00:00+05:60']) expect(dateRange(bad)).toBeUndefined();
  });

  it('keeps years below 100 as written', () => {
    expect(dateRange('0099')?.low).toBe('0099-01-01T00:00:00.000Z');
  });
});

describe('numberRange', () => {
  it('gives the range of the significant figures', () => {
    expect(numberRange('100')).toEqual({ value: '100', low: '99.5', high: '100.5' });
    expect(numberRange('1.50')).toEqual({ value: '1.5', low: '1.495', high: '1.505' });
    expect(numberRange('1e2')).toEqual({ value: '100', low: '50', high: '150' });
  });
  it('refuses what is not a number, and infinities', () => {
    for (const bad of ['abc', '1,5', '', '1e999', '--1', '0x10']) expect(numberRange(bad)).toBeUndefined();
  });
});

describe('strings and references', () => {
  it('normalises case, accents and spaces, and caps length', () => {
    expect(normalizeString('  Zoë   MÜLLER ')).toBe('zoe muller');
    // Full case mapping: ß is ss, a dotless ı is i, ligatures open up; Σ, σ and ς are one letter.
    expect(normalizeString('Κωσ')).toBe('κωσ'); // a prefix: its last sigma is not a word's end
    expect(['Straße', 'STRASSE', 'Παπαδόπουλος', 'ΠΑΠΑΔΌΠΟΥΛΟΣ', 'Yıldız', 'ﬁsh'].map(normalizeString)).toEqual([
      'strasse',
      'strasse',
      'παπαδοπουλοσ', // every sigma is σ, final or not
      'παπαδοπουλοσ',
      'yildiz',
      'fish',
    ]);
    expect(exactString('Mu\u0308ller')).toBe('M\u00fcller');
    expect(capText('x'.repeat(600))).toHaveLength(500);
  });
  it('escapes LIKE wildcards', () => {
    expect(escapeLike('50%_off\\')).toBe('50\\%\\_off\\\\');
  });
  it('parses local references, dropping a version', () => {
    expect(parseLocalReference('Patient/123/_history/2')).toEqual({ type: 'Patient', id: '123' });
    expect(parseLocalReference('http://x/Patient/1')).toBeUndefined();
    expect(parseLocalReference('urn:uuid:1')).toBeUndefined();
  });
  it('splits on unescaped separators only', () => {
    expect(splitUnescaped('a\\,b,c', ',')).toEqual(['a\\,b', 'c']);
  });
});

describe('parseSearchRequest', () => {
  const limits = { defaultCount: 20, maxCount: 100 };
  const bad = (params: Array<[string, string]>) => {
    try {
      parseSearchRequest(params, limits);
    } catch (e) {
      return (e as OperationOutcomeError).status;
    }
    return 200;
  };

  it('separates clauses from result parameters', () => {
    const r = parseSearchRequest(
      [
        ['name', 'x'],
        ['_sort', '-date,_id'],
        ['_count', '5'],
        ['_include', 'Observation:subject:Patient'],
        ['_include:iterate', 'Patient:general-practitioner'],
        ['_summary', 'count'],
      ],
      limits,
    );
    expect(r.clauses).toEqual([{ name: 'name', value: 'x' }]);
    expect(r.sort).toEqual([
      { code: 'date', descending: true },
      { code: '_id', descending: false },
    ]);
    expect(r.count).toBe(5);
    expect(r.include).toEqual([
      { sourceType: 'Observation', code: 'subject', targetType: 'Patient', iterate: false },
      { sourceType: 'Patient', code: 'general-practitioner', iterate: true, targetType: undefined },
    ]);
    expect(r.summary).toBe('count');
  });

  it('refuses malformed result parameters with 400', () => {
    expect(bad([['_count', '101']])).toBe(400);
    expect(bad([['_count', '-1']])).toBe(400);
    expect(bad([['_total', 'sometimes']])).toBe(400);
    expect(bad([['_include', 'Observation']])).toBe(400);
    expect(bad([['_sort', "name'; drop"]])).toBe(400);
    expect(bad([['name', 'a\u0000b']])).toBe(400);
    expect(bad([['_count', '1'], ['_count', '2']])).toBe(400);
  });
});

describe('prefixUpperBound', () => {
  it('bounds every string with the prefix from above, in code point order', () => {
    expect(prefixUpperBound('breit')).toBe('breiu');
    expect(prefixUpperBound('a')).toBe('b');
    expect(prefixUpperBound('zz')).toBe('z{');
    expect(prefixUpperBound('ünï')).toBe('ünð');
    expect(prefixUpperBound('x\u{d7ff}')).toBe('x\u{e000}');
    expect(prefixUpperBound('a😀')).toBe('a😁');
    expect(prefixUpperBound('a\u{10ffff}')).toBeUndefined();
    expect(prefixUpperBound('')).toBeUndefined();
    // Every string that starts with the prefix lies in [prefix, bound), as UTF-8 bytes compare.
    const bytes = (v: string) => Buffer.from(v, 'utf8');
    for (const prefix of ['breit', 'ünï', 'a😀', 'z']) {
      const bound = bytes(prefixUpperBound(prefix) as string);
      for (const tail of ['', 'a', 'zzzz', '\u{10ffff}\u{10ffff}', '😀', ' x']) {
        const v = bytes(prefix + tail);
        expect([prefix + tail, Buffer.compare(v, bytes(prefix)) >= 0 && Buffer.compare(v, bound) < 0]).toEqual([prefix + tail, true]);
      }
    }
  });
});
