import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { narrativeProblems } from './narrative';

const div = (inner: string, attrs = '') => `<div xmlns="http://www.w3.org/1999/xhtml"${attrs}>${inner}</div>`;
const problemsOf = (text: string) => narrativeProblems(text).problems;

/** Every Narrative.div in a JSON value. */
function divsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) divsIn(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'div' && typeof v === 'string') out.push(v);
      else divsIn(v, out);
    }
  }
  return out;
}

describe('narrativeProblems', () => {
  it('accepts the formatting HTML real narratives use', () => {
    const rich = div(
      '<h2 class="x">Title</h2><p style="color: red" xml:lang="en">Text <b>bold</b> <a href="https://example.org/a?b=c">link</a> <a name="n"/> <a href="#n">here</a></p>' +
        '<table border="1" cellpadding="2"><thead><tr><th colspan="2" scope="col">h</th></tr></thead><tbody><tr><td rowspan="1">c</td></tr></tbody></table>' +
        '<ul><li>one</li></ul><pre xml:space="preserve">  x</pre><img src="data:image/png;base64,AAAA" alt="a"/><img src="#pic"/><br/>&lt;&amp;&#169;',
    );
    expect(narrativeProblems(rich)).toEqual({ problems: [], empty: false });
  });

  it.each([
    ['a script', div('<script>alert(1)</script>x'), /<script>, which is not allowed/],
    ['an event attribute', div('<p onclick="steal()">x</p>'), /attribute onclick on <p>/],
    ['a javascript: link', div('<a href="javascript:alert(1)">x</a>'), /links must be web, relative or # links/],
    ['a javascript: link spelled with a character reference and a tab', div('<a href="&#106;ava&#9;script:alert(1)">x</a>'), /links must be/],
    ['an SVG data image (it can carry script)', div('<img src="data:image/svg+xml;base64,AAAA"/>x'), /images must be/],
    ['an iframe', div('<iframe src="https://evil.example"/>x'), /<iframe>/],
    ['a form', div('<form action="/x"><input name="a"/></form>x'), /<form>/],
    ['an object', div('<object data="x.swf"/>x'), /<object>/],
    ['a style that runs code', div('<p style="width: expression(alert(1))">x</p>'), /style on <p> that runs code/],
    ['an element of another namespace', div('<svg xmlns="http://www.w3.org/2000/svg"/>x'), /outside the XHTML namespace/],
    ['an xlink attribute', div('<a xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="javascript:x()">x</a>'), /attribute xlink:href/],
    ['a root that is not an XHTML div', '<div>no namespace</div>', /single <div xmlns=/],
    ['a root that is a p', '<p xmlns="http://www.w3.org/1999/xhtml">x</p>', /single <div xmlns=/],
    ['two roots', `${div('a')}${div('b')}`, /well-formed|single <div/],
    ['text outside the div', `${div('a')}b`, /well-formed|outside/],
    ['unclosed markup', div('<p>x'), /well-formed/],
    ['an HTML entity XML does not define', div('&reg;'), /well-formed/],
    ['a DTD', `<!DOCTYPE div>${div('x')}`, /DTD/],
    ['a processing instruction', div('<?php echo 1; ?>x'), /processing instructions/],
    // Read as text by XML, as markup by a browser's HTML parser (it ends these at the first '>').
    ['a CDATA section', div('<![CDATA[ x><img src=x onerror=alert(1)> ]]>'), /CDATA/],
    ['a comment a browser ends early (<!-->)', div('<!--><img src=x onerror=alert(1)>-->x'), /comment that a browser ends early/],
    ['a comment a browser ends early (<!--->)', div('<!---><img src=x onerror=alert(1)>-->x'), /comment that a browser ends early/],
    ['nesting deeper than 128 levels', div(`${'<span>'.repeat(130)}x${'</span>'.repeat(130)}`), /nested more than 128/],
  ])('refuses %s', (_name, text, message) => {
    const problems = problemsOf(text);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join(' | ')).toMatch(message);
  });

  it('keeps ordinary comments', () => {
    expect(narrativeProblems(div('<!-- generated --><p>x</p>'))).toEqual({ problems: [], empty: false });
  });

  it('flags an empty narrative apart (txt-2), and counts an image as content', () => {
    expect(narrativeProblems(div('   \n  '))).toEqual({ problems: [], empty: true });
    expect(narrativeProblems(div('<p> </p>'))).toEqual({ problems: [], empty: true });
    expect(narrativeProblems(div('<img src="#a"/>'))).toEqual({ problems: [], empty: false });
  });

  it('checks only the structure when asked (what an XML reader needs of stored resources)', () => {
    expect(narrativeProblems(div('<script>x</script>'), true)).toEqual({ problems: [], empty: false });
    expect(narrativeProblems(div('<?pi x?><![CDATA[a]]>x'), true)).toEqual({ problems: [], empty: false });
    expect(narrativeProblems(div('<p>x'), true).problems[0]).toMatch(/well-formed/);
    expect(narrativeProblems('<p>x</p>', true).problems[0]).toMatch(/single <div/);
  });

  const examples = dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
  const synthea = join(__dirname, '../../../../shared/fixtures/synthea');
  it('finds nothing wrong in the narratives of the official R4 examples and the Synthea fixtures', () => {
    const files = readdirSync(examples)
      .filter((f) => f.endsWith('.json') && f !== 'package.json')
      .map((f) => join(examples, f));
    if (existsSync(synthea)) for (const d of ['smart', 'data-pipes']) files.push(...readdirSync(join(synthea, d)).map((f) => join(synthea, d, f)));
    else console.warn(`${synthea} is absent: only the R4 examples are checked`);
    let count = 0;
    const wrong: string[] = [];
    for (const file of files) {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        continue;
      }
      for (const d of divsIn(json)) {
        count++;
        for (const p of problemsOf(d)) wrong.push(`${file.split('/').pop()}: ${p}`);
      }
    }
    expect(count).toBeGreaterThan(3000);
    expect(wrong).toEqual([]);
  });
});
