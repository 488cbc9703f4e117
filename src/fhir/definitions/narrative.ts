import { SaxesParser } from 'saxes';

/**
 * Narrative.div rules (http://hl7.org/fhir/R4/narrative.html#xhtml): one well-formed XHTML `<div>`
 * in the XHTML namespace, no DTD or processing instructions, and
 * - txt-1: only the basic HTML formatting elements and attributes (HTML 4.0 chapters 7-11 and 15,
 *   `<a>` with name or href, images, style attributes): no scripts, forms, frames, objects,
 *   base/link elements or event attributes (`onclick`...); links and images by http(s), relative or
 *   `#` references or (images) data URIs, never `javascript:`;
 * - txt-2: some non-whitespace content (text, or an image). Reported apart (`empty`), as a warning:
 *   four official R4 examples have an empty div, and an empty narrative harms nobody.
 * Clinicians' apps render narratives as HTML, so these rules are what keeps stored markup from
 * running in them. The element and attribute lists follow the HL7 reference validator.
 */

export const XHTML_NS = 'http://www.w3.org/1999/xhtml';
/** Deepest element nesting accepted (as in the FHIR XML reader and writer). */
export const MAX_NARRATIVE_DEPTH = 128;

const ELEMENTS = new Set(
  (
    'p br div h1 h2 h3 h4 h5 h6 a span b em i strong small big tt dfn q var abbr acronym cite blockquote hr address bdo kbd ' +
    'sub sup ul ol li dl dt dd pre table caption colgroup col thead tr tfoot tbody th td code samp img map area del ins s u strike center font'
  ).split(' '),
);

const COMMON_ATTRIBUTES = new Set(['title', 'style', 'class', 'id', 'lang', 'xml:lang', 'xml:space', 'dir', 'accesskey', 'tabindex']);
const CELL = ['abbr', 'axis', 'headers', 'scope', 'rowspan', 'colspan', 'align', 'char', 'charoff', 'valign', 'width', 'height', 'nowrap', 'bgcolor'];
const ELEMENT_ATTRIBUTES: Record<string, string[]> = {
  a: ['href', 'name', 'rel', 'rev', 'type', 'hreflang', 'charset', 'shape', 'coords'],
  img: ['src', 'alt', 'longdesc', 'height', 'width', 'border', 'usemap', 'ismap', 'align', 'hspace', 'vspace'],
  table: ['summary', 'width', 'border', 'frame', 'rules', 'cellspacing', 'cellpadding', 'align', 'bgcolor'],
  th: CELL,
  td: CELL,
  tr: ['align', 'char', 'charoff', 'valign', 'bgcolor'],
  thead: ['align', 'char', 'charoff', 'valign'],
  tbody: ['align', 'char', 'charoff', 'valign'],
  tfoot: ['align', 'char', 'charoff', 'valign'],
  col: ['span', 'width', 'align', 'char', 'charoff', 'valign'],
  colgroup: ['span', 'width', 'align', 'char', 'charoff', 'valign'],
  ol: ['type', 'start', 'compact'],
  ul: ['type', 'compact'],
  li: ['type', 'value'],
  dl: ['compact'],
  blockquote: ['cite'],
  q: ['cite'],
  del: ['cite', 'datetime'],
  ins: ['cite', 'datetime'],
  area: ['shape', 'coords', 'href', 'nohref', 'alt'],
  map: ['name'],
  pre: ['width'],
  br: ['clear'],
  hr: ['align', 'noshade', 'size', 'width'],
  p: ['align'],
  div: ['align'],
  h1: ['align'],
  h2: ['align'],
  h3: ['align'],
  h4: ['align'],
  h5: ['align'],
  h6: ['align'],
  font: ['size', 'color', 'face'],
  caption: ['align'],
};

/** Link targets that render as navigation, not as code: http(s), ftp, mailto, tel, urn, relative paths and fragments. */
const SAFE_HREF = /^(?:https?:|ftp:|mailto:|tel:|urn:|#|[^:]*$)/i;
/** Image sources: the same, or embedded data (never SVG, which can carry script). */
const SAFE_SRC = /^(?:https?:|#|[^:]*$|data:image\/(?:png|gif|jpeg|jpg|bmp|webp);)/i;

/**
 * What is wrong with a narrative div (one message per problem, none when it is fine), and whether
 * it has no content (txt-2).
 * `structureOnly` checks only what any XHTML consumer needs (well-formed, one XHTML div): the XML
 * writer uses it for resources stored before these rules were enforced.
 */
export function narrativeProblems(div: string, structureOnly = false): { problems: string[]; empty: boolean } {
  const problems: string[] = [];
  const parser = new SaxesParser({ xmlns: true });
  let depth = 0;
  let roots = 0;
  let content = false;
  parser.on('doctype', () => {
    problems.push('must not contain a DTD');
  });
  parser.on('processinginstruction', () => {
    if (!structureOnly) problems.push('must not contain processing instructions');
  });
  // XML and HTML parsers read these differently: a browser ends `<![CDATA[` at the first `>` and
  // `<!-->` / `<!--->` at once, so markup an XML reader takes for text would come alive there.
  parser.on('cdata', () => {
    if (!structureOnly) problems.push('must not contain CDATA sections (a browser reads them as markup)');
  });
  parser.on('comment', (text) => {
    if (!structureOnly && /^-?>/.test(text)) problems.push('has a comment that a browser ends early (<!--> or <!--->)');
  });
  parser.on('opentag', (tag) => {
    if (++depth > MAX_NARRATIVE_DEPTH) throw new NarrativeError(`is nested more than ${MAX_NARRATIVE_DEPTH} levels deep`);
    if (depth === 1) {
      roots++;
      if (tag.local !== 'div' || tag.uri !== XHTML_NS) problems.push(`must be a single <div xmlns="${XHTML_NS}"> element`);
    }
    if (structureOnly) return;
    if (tag.uri !== XHTML_NS) {
      problems.push(`has <${tag.name}> outside the XHTML namespace`);
      return;
    }
    if (!ELEMENTS.has(tag.local)) {
      problems.push(`has <${tag.local}>, which is not allowed (txt-1: basic HTML formatting only)`);
      return;
    }
    if (tag.local === 'img') content = true;
    for (const a of Object.values(tag.attributes)) {
      if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
      const name = a.prefix === 'xml' ? `xml:${a.local}` : a.prefix ? a.name : a.local;
      if (!COMMON_ATTRIBUTES.has(name) && !ELEMENT_ATTRIBUTES[tag.local]?.includes(name)) {
        problems.push(`has the attribute ${name} on <${tag.local}>, which is not allowed (txt-1)`);
        continue;
      }
      const value = a.value.trim().replace(/[\s\u0000-\u001f]/g, ''); // eslint-disable-line no-control-regex
      if (name === 'href' && !SAFE_HREF.test(value)) problems.push(`has <${tag.local} href="${value.slice(0, 40)}">: links must be web, relative or # links`);
      if (name === 'src' && !SAFE_SRC.test(value)) problems.push(`has <${tag.local} src="${value.slice(0, 40)}">: images must be web, relative, # or image data links`);
      if (name === 'style' && /expression\s*\(|url\s*\(\s*['"]?\s*javascript:|behavior\s*:|-moz-binding/i.test(a.value)) {
        problems.push(`has a style on <${tag.local}> that runs code`);
      }
    }
  });
  parser.on('closetag', () => void depth--);
  parser.on('text', (t) => {
    if (depth === 0 && t.trim()) problems.push('has text outside its <div>');
    else if (t.trim()) content = true;
  });
  try {
    parser.write(div).close();
  } catch (e) {
    if (e instanceof NarrativeError) return { problems: [e.message], empty: false };
    return { problems: [`is not well-formed XHTML: ${(e as Error).message}`], empty: false };
  }
  if (roots !== 1 && !problems.some((p) => p.startsWith('must be a single'))) problems.push(`must be a single <div xmlns="${XHTML_NS}"> element`);
  return { problems, empty: !structureOnly && !content && !problems.length };
}

class NarrativeError extends Error {}
