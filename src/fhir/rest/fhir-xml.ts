import type { Resource } from '@medplum/fhirtypes';
import { SaxesParser, type SaxesAttributeNS } from 'saxes';
import { tryTypeInfo, type ElementInfo, type TypeInfo } from '../definitions/element-types';
import { isResourceType, loadFhirDefinitions } from '../definitions/fhir-definitions';
import { MAX_NARRATIVE_DEPTH, XHTML_NS, narrativeProblems } from '../definitions/narrative';
import { OperationOutcomeError } from '../operation-outcome';
import { lexemeDiffers, lexemeOf, setLexeme } from '../json/lexemes';
import { INTEGER_MAX, INTEGER_MIN, outsideIntegerRange } from '../definitions/integer-values';

/**
 * FHIR R4 XML <-> JSON (http://hl7.org/fhir/R4/xml.html).
 *
 * saxes (jsdom's strict, namespace-aware XML 1.0 parser) reads the XML; the FHIR rules come from
 * the R4 StructureDefinitions as indexed by @medplum/core: which elements repeat, which are
 * primitives, choice types, element order. Measured and rejected: FHIR.js (`fhir`, the one
 * FHIR-specific converter on npm) turns nested decimals such as Quantity.value into strings,
 * rejects valid decimals (1e-22), re-flows or drops narratives, and needs ~20 ms per resource to
 * write XML; fast-xml-parser accepts mismatched tags unless a second validating pass is run, leaves
 * character references in attributes undecoded, and read at a third of saxes' speed.
 *
 * The XML mapping in brief:
 * - a primitive is `<name value=".." id=".."><extension/>..</name>`; its id/extension go to the
 *   JSON twin `_name` (an array aligned with the values when the element repeats);
 * - `id` of a datatype or backbone element and `url` of an Extension are XML attributes, while a
 *   resource's `id` is an element;
 * - Narrative.div is XHTML kept verbatim as a string;
 * - a resource inside an element (contained, Bundle.entry.resource, Parameters.parameter.resource)
 *   is wrapped: `<resource><Patient>..</Patient></resource>`;
 * - children are written in StructureDefinition order, as the XML format requires.
 */

const FHIR_NS = 'http://hl7.org/fhir';
/** Deepest element nesting accepted, either way; real resources stay well below (Questionnaire items ~20). */
export const MAX_XML_DEPTH = MAX_NARRATIVE_DEPTH;

// ---------------------------------------------------------------------------------------------
// Element tables, from the StructureDefinitions
// ---------------------------------------------------------------------------------------------

const NUMERIC = new Set(['decimal', 'integer', 'positiveInt', 'unsignedInt']);

/** The element table of a type; 400 when R4 has no such type. */
function typeInfo(typeName: string, where: string): TypeInfo {
  const info = tryTypeInfo(typeName);
  if (!info) throw invalid(`No FHIR R4 definition for type ${typeName} (at ${where})`);
  return info;
}

/** Attributes rather than child elements: Element.id below resource level, Extension.url. */
function isAttribute(element: ElementInfo, ownerType: string, ownerIsResource: boolean): boolean {
  return (element.name === 'id' && !ownerIsResource) || (element.name === 'url' && ownerType === 'Extension');
}

// ---------------------------------------------------------------------------------------------
// XML -> JSON
// ---------------------------------------------------------------------------------------------

/** An element of the parsed document, its children grouped by name (FHIR repeats are contiguous). */
interface XmlElement {
  name: string;
  /** Unprefixed attributes, decoded. Namespace declarations and foreign attributes are left out. */
  attrs: Record<string, string>;
  /** Created on the first child: most elements are primitives without any. */
  children?: Map<string, XmlElement[]>;
  /** Narrative only: the whole `<div ..>..</div>` as the JSON format carries it. */
  xhtml?: string;
}
type Json = Record<string, unknown>;

/** Parses a FHIR XML resource. Throws OperationOutcomeError 400 if it is not well-formed FHIR R4 XML. */
export function xmlToResource(xml: string): Resource {
  loadFhirDefinitions();
  const root = parseXml(xml);
  if (!isResourceType(root.name)) throw invalid(`<${root.name}> is not a FHIR R4 resource type`);
  return readResource(root, root.name) as unknown as Resource;
}

/**
 * saxes checks well-formedness and namespaces and decodes entities; this builds the element tree,
 * enforcing the depth limit and that every element outside the narrative is in the FHIR namespace.
 * The narrative is cut verbatim out of the source text, using the parser's position.
 */
function parseXml(xml: string): XmlElement {
  if (typeof xml !== 'string' || !xml.trim()) throw structure('The request body is empty; expected a FHIR XML resource');
  const parser = new SaxesParser({ xmlns: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let div: { owner: XmlElement; startTag: string; contentStart: number; depth: number } | undefined;

  parser.on('doctype', () => {
    // FHIR XML forbids DTDs; refusing them rules out external entities (XXE) and entity expansion.
    throw structure('FHIR XML must not contain a DTD (<!DOCTYPE>)');
  });
  parser.on('error', (e) => {
    throw structure(`Malformed XML at ${e.message}`);
  });
  parser.on('opentag', (tag) => {
    if (stack.length + (div?.depth ?? 0) >= MAX_XML_DEPTH) throw invalid(`The document is nested more than ${MAX_XML_DEPTH} levels deep`);
    if (div) {
      div.depth++;
      return;
    }
    const parent = stack[stack.length - 1];
    if (tag.uri === XHTML_NS && tag.local === 'div' && parent) {
      if (tag.prefix) throw invalid(`The narrative <${tag.name}> must use the default namespace, not a prefix`);
      div = { owner: parent, startTag: divStartTag(tag.attributes), contentStart: parser.position, depth: 1 };
      return;
    }
    if (tag.uri !== FHIR_NS) throw invalid(`<${tag.name}> is not in the FHIR namespace ${FHIR_NS}`);
    const element: XmlElement = { name: tag.local, attrs: fhirAttributes(tag.attributes) };
    if (parent) addChild(parent, element);
    else root = element;
    stack.push(element);
  });
  parser.on('closetag', (tag) => {
    if (!div) {
      stack.pop();
      return;
    }
    if (--div.depth > 0) return;
    const content = tag.isSelfClosing ? '' : xml.slice(div.contentStart, xml.lastIndexOf('</', parser.position - 1));
    addChild(div.owner, { name: 'div', attrs: {}, xhtml: `${div.startTag}${normaliseNarrative(content)}</div>` });
    div = undefined;
  });
  const text = (t: string) => {
    if (!div && t.trim() && stack.length) throw invalid(`Unexpected text '${t.trim().slice(0, 40)}' in <${stack[stack.length - 1].name}>: FHIR XML carries values in the value attribute`);
  };
  parser.on('text', text);
  parser.on('cdata', text);
  try {
    parser.write(xml).close();
  } catch (e) {
    if (e instanceof OperationOutcomeError) throw e;
    throw structure(`Malformed XML: ${(e as Error).message}`);
  }
  if (!root) throw structure('The document has no root element');
  return root;
}

function addChild(parent: XmlElement, child: XmlElement): void {
  parent.children ??= new Map();
  const list = parent.children.get(child.name);
  if (list) list.push(child);
  else parent.children.set(child.name, [child]);
}

const NO_CHILDREN = new Map<string, XmlElement[]>();

/** FHIR's own attributes are unprefixed; xmlns declarations and xsi:schemaLocation and the like are not content. */
function fhirAttributes(attributes: Record<string, SaxesAttributeNS>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in attributes) {
    const a = attributes[name];
    if (!a.prefix && name !== 'xmlns') out[name] = a.value;
  }
  return out;
}

/** The div's start tag in canonical form, always declaring the XHTML namespace as JSON requires. */
function divStartTag(attributes: Record<string, SaxesAttributeNS>): string {
  let tag = `<div xmlns="${XHTML_NS}"`;
  for (const a of Object.values(attributes)) {
    if (a.name !== 'xmlns') tag += ` ${a.name}="${escapeAttribute(a.value, 'div')}"`;
  }
  return `${tag}>`;
}

/**
 * XML line-end normalisation (CRLF and CR read as LF) applied to the verbatim narrative, and `&#13;`,
 * which writeXhtml uses for a JSON narrative's CRs, turned back into the character it stands for.
 */
function normaliseNarrative(xhtml: string): string {
  const lf = xhtml.includes('\r') ? xhtml.replace(/\r\n?/g, '\n') : xhtml;
  return lf.includes('&#') ? lf.replace(/&#(13|x0*[dD]);/g, '\r') : lf;
}

function readResource(node: XmlElement, path: string): Json {
  checkAttributes(node, [], path);
  const out: Json = { resourceType: node.name };
  readChildren(node.name, node, out, path, true);
  return out;
}

function checkAttributes(node: XmlElement, allowed: string[], path: string): void {
  for (const attr of Object.keys(node.attrs)) {
    if (!allowed.includes(attr)) throw invalid(`Unexpected attribute ${attr} on ${path}`);
  }
}

function readChildren(type: string, node: XmlElement, out: Json, path: string, isResource: boolean): void {
  const info = typeInfo(type, path);
  for (const [name, nodes] of node.children ?? NO_CHILDREN) {
    const element = info.byName.get(name);
    if (!element || isAttribute(element, type, isResource)) throw invalid(`Unknown element <${name}> in ${path}`);
    if (!element.isArray && nodes.length > 1) throw invalid(`Element ${path}.${name} does not repeat but occurs ${nodes.length} times`);
    if ((element.kind === 'xhtml') !== (nodes[0].xhtml !== undefined)) throw invalid(`${path}.${name} must be an XHTML <div>`);
    readElement(element, nodes, out, `${path}.${name}`);
  }
}

function readElement(element: ElementInfo, nodes: XmlElement[], out: Json, path: string): void {
  const at = (i: number) => (element.isArray ? `${path}[${i}]` : path);
  switch (element.kind) {
    case 'primitive':
      return readPrimitives(element, nodes, out, path);
    case 'xhtml':
      out[element.name] = nodes[0].xhtml;
      return;
    case 'resource': {
      const values = nodes.map((n, i) => readWrappedResource(n, at(i)));
      out[element.name] = element.isArray ? values : values[0];
      return;
    }
    case 'complex': {
      const values = nodes.map((n, i) => readComplex(element.type, n, at(i)));
      out[element.name] = element.isArray ? values : values[0];
    }
  }
}

function readComplex(type: string, node: XmlElement, path: string): Json {
  checkAttributes(node, type === 'Extension' ? ['id', 'url'] : ['id'], path);
  const out: Json = { ...node.attrs };
  readChildren(type, node, out, path, false);
  return out;
}

/** `<resource><Patient>..</Patient></resource>`: the wrapper holds exactly one resource. */
function readWrappedResource(node: XmlElement, path: string): Json {
  checkAttributes(node, [], path);
  const [entry, ...more] = node.children ?? NO_CHILDREN;
  if (!entry || more.length || entry[1].length !== 1) throw invalid(`${path} must contain exactly one resource`);
  if (!isResourceType(entry[0])) throw invalid(`<${entry[0]}> in ${path} is not a FHIR R4 resource type`);
  return readResource(entry[1][0], `${path}.${entry[0]}`);
}

/** Repeating primitives: JSON keeps values and their id/extensions in two aligned arrays. */
function readPrimitives(element: ElementInfo, nodes: XmlElement[], out: Json, path: string): void {
  const values: unknown[] = [];
  const twins: (Json | null)[] = [];
  nodes.forEach((n, i) => {
    const { value, twin } = readPrimitive(element.type, n, element.isArray ? `${path}[${i}]` : path);
    values.push(value ?? null);
    twins.push(twin ?? null);
    // A decimal keeps its lexeme (1.50) where the number would not write it back (json/lexemes.ts).
    if (typeof value === 'number' && lexemeDiffers(n.attrs.value)) setLexeme(element.isArray ? values : out, element.isArray ? i : element.name, n.attrs.value);
  });
  if (values.some((v) => v !== null)) out[element.name] = element.isArray ? values : values[0];
  if (twins.some((t) => t !== null)) out[`_${element.name}`] = element.isArray ? twins : twins[0];
}

function readPrimitive(type: string, node: XmlElement, path: string): { value?: unknown; twin?: Json } {
  checkAttributes(node, ['value', 'id'], path);
  const twin: Json = {};
  if (node.attrs.id !== undefined) twin.id = node.attrs.id;
  for (const [name, children] of node.children ?? NO_CHILDREN) {
    if (name !== 'extension') throw invalid(`Unknown element <${name}> in ${path}: a primitive holds only extensions`);
    twin.extension = children.map((c, i) => readComplex('Extension', c, `${path}.extension[${i}]`));
  }
  const value = node.attrs.value === undefined ? undefined : parsePrimitive(type, node.attrs.value, path);
  if (value === undefined && twin.extension === undefined) throw invalid(`${path} has neither a value nor extensions`);
  return { value, twin: Object.keys(twin).length ? twin : undefined };
}

function parsePrimitive(type: string, text: string, path: string): unknown {
  if (type === 'boolean') {
    if (text === 'true' || text === 'false') return text === 'true';
    throw invalid(`${path}: '${text}' is not a boolean`);
  }
  if (NUMERIC.has(type)) {
    const pattern = type === 'decimal' ? /^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/ : /^[-+]?\d+$/;
    const n = Number(text);
    if (!pattern.test(text) || !Number.isFinite(n)) throw invalid(`${path}: '${text}' is not a valid ${type}`);
    if (type !== 'decimal' && outsideIntegerRange(n)) throw invalid(`${path}: '${text}' is outside the range of a FHIR ${type} (${INTEGER_MIN} to ${INTEGER_MAX})`);
    return n;
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// JSON -> XML
// ---------------------------------------------------------------------------------------------

/**
 * Serialises a resource as FHIR XML; `pretty` indents it (narratives stay as written). Throws
 * OperationOutcomeError 400 for content that has no XML form.
 */
export function resourceToXml(resource: Resource, options: { pretty?: boolean } = {}): string {
  loadFhirDefinitions();
  const xml = writeResource(resource as unknown as Json, (resource as Resource | undefined)?.resourceType ?? 'resource', 1, true);
  if (options.pretty) return indentXml(xml);
  return xml.includes(NARRATIVE_MARK) ? xml.replaceAll(NARRATIVE_MARK, '') : xml;
}

/**
 * Narratives are written between two marks (a NUL, which XML cannot carry, so it occurs nowhere
 * else) that the indenter copies verbatim: whitespace inside XHTML is content.
 */
const NARRATIVE_MARK = '\u0000';

/**
 * One element per line, two spaces per level. Outside narratives FHIR XML has no text, and `>` is
 * escaped in every attribute the writer makes, so each `<...>` is one tag.
 */
function indentXml(xml: string): string {
  const lines: string[] = [];
  let level = 0;
  xml.split(NARRATIVE_MARK).forEach((part, i) => {
    if (i % 2 === 1) {
      lines.push('  '.repeat(level) + part);
      return;
    }
    for (const tag of part.match(/<[^>]*>/g) ?? []) {
      if (tag.startsWith('</')) level--;
      lines.push('  '.repeat(level) + tag);
      if (!tag.startsWith('</') && !tag.endsWith('/>')) level++;
    }
  });
  return lines.join('\n');
}

function writeResource(resource: Json, path: string, depth: number, root = false): string {
  checkDepth(depth, path);
  const type = resource?.resourceType;
  if (typeof type !== 'string' || !isResourceType(type)) throw invalid(`${path}: '${String(type)}' is not a FHIR R4 resource type`);
  const ns = root ? ` xmlns="${FHIR_NS}"` : '';
  return `<${type}${ns}>${writeChildren(type, resource, path, true, depth)}</${type}>`;
}

function writeChildren(type: string, obj: Json, path: string, isResource: boolean, depth: number): string {
  const info = typeInfo(type, path);
  checkKnownProperties(info, obj, path, isResource);
  let xml = '';
  for (const element of info.ordered) {
    if (isAttribute(element, type, isResource)) continue;
    const value = obj[element.name];
    const twin = obj[`_${element.name}`];
    if (value === undefined && twin === undefined) continue;
    xml += writeElement(element, value, twin, `${path}.${element.name}`, depth + 1, obj);
  }
  return xml;
}

/** Every JSON property must have an XML form; silently dropping one would lose data. */
function checkKnownProperties(info: TypeInfo, obj: Json, path: string, isResource: boolean): void {
  for (const key of Object.keys(obj)) {
    if (isResource && key === 'resourceType') continue;
    const element = info.byName.get(key[0] === '_' ? key.slice(1) : key);
    if (!element || (key[0] === '_' && element.kind !== 'primitive')) throw invalid(`Unknown property '${key}' in ${path}`);
  }
}

/** `holder`: the object holding the element, which may keep the lexemes of its decimals. */
function writeElement(element: ElementInfo, value: unknown, twin: unknown, path: string, depth: number, holder: Json): string {
  if (element.kind === 'primitive') return writePrimitives(element, value, twin, path, depth, holder);
  const items = element.isArray ? asArray(value, path) : [value];
  if (!element.isArray && Array.isArray(value)) throw invalid(`${path} does not repeat but holds an array`);
  let xml = '';
  items.forEach((item, i) => {
    const at = element.isArray ? `${path}[${i}]` : path;
    if (element.kind === 'xhtml') xml += writeXhtml(item, at);
    else if (element.kind === 'resource') xml += `<${element.name}>${writeResource(asObject(item, at), at, depth + 1)}</${element.name}>`;
    else xml += writeComplex(element.name, element.type, asObject(item, at), at, depth);
  });
  return xml;
}

function writeComplex(name: string, type: string, obj: Json, path: string, depth: number): string {
  checkDepth(depth, path);
  let attrs = '';
  if (obj.id !== undefined) attrs += ` id="${escapeAttribute(primitiveText('string', obj.id, `${path}.id`), path)}"`;
  if (type === 'Extension' && obj.url !== undefined) attrs += ` url="${escapeAttribute(primitiveText('uri', obj.url, `${path}.url`), path)}"`;
  const inner = writeChildren(type, obj, path, false, depth);
  return inner ? `<${name}${attrs}>${inner}</${name}>` : `<${name}${attrs}/>`;
}

function writePrimitives(element: ElementInfo, value: unknown, twin: unknown, path: string, depth: number, holder: Json): string {
  if (!element.isArray) {
    if (Array.isArray(value) || Array.isArray(twin)) throw invalid(`${path} does not repeat but holds an array`);
    return writePrimitive(element, value, twin, path, depth, lexemeOf(holder, element.name, value));
  }
  const values = value === undefined ? [] : asArray(value, path);
  const twins = twin === undefined ? [] : asArray(twin, `_${path}`);
  let xml = '';
  for (let i = 0; i < Math.max(values.length, twins.length); i++) {
    xml += writePrimitive(element, values[i], twins[i], `${path}[${i}]`, depth, lexemeOf(values, i, values[i]));
  }
  return xml;
}

function writePrimitive(element: ElementInfo, value: unknown, twin: unknown, path: string, depth: number, lexeme?: string): string {
  let attrs = '';
  let inner = '';
  if (twin !== undefined && twin !== null) {
    const t = asObject(twin, path);
    for (const key of Object.keys(t)) {
      if (key !== 'id' && key !== 'extension') throw invalid(`Unknown property '${key}' in the extensions of ${path}`);
    }
    if (t.id !== undefined) attrs += ` id="${escapeAttribute(primitiveText('string', t.id, `${path}.id`), path)}"`;
    if (t.extension !== undefined) {
      asArray(t.extension, `${path}.extension`).forEach((ext, i) => {
        const at = `${path}.extension[${i}]`;
        inner += writeComplex('extension', 'Extension', asObject(ext, at), at, depth + 1);
      });
    }
  }
  if (value !== undefined && value !== null) attrs += ` value="${escapeAttribute(lexeme ?? primitiveText(element.type, value, path), path)}"`;
  if (!attrs && !inner) return '';
  return inner ? `<${element.name}${attrs}>${inner}</${element.name}>` : `<${element.name}${attrs}/>`;
}

/** The lexical form of a JSON primitive, refusing values of the wrong JSON type (they would not read back equal). */
function primitiveText(type: string, value: unknown, path: string): string {
  const expected = type === 'boolean' ? 'boolean' : NUMERIC.has(type) ? 'number' : 'string';
  if (typeof value !== expected) throw invalid(`${path} must be a JSON ${expected} (FHIR ${type}), not ${JSON.stringify(value)}`);
  return String(value);
}

/**
 * The narrative goes out verbatim, so it must be one well-formed XHTML <div>: anything else would
 * break the document or smuggle markup into it.
 */
function writeXhtml(value: unknown, path: string): string {
  if (typeof value !== 'string') throw invalid(`${path} must be a string of XHTML`);
  checkNarrative(value, path);
  return NARRATIVE_MARK + (value.includes('\r') ? value.replace(/\r/g, '&#13;') : value) + NARRATIVE_MARK;
}

function checkNarrative(div: string, path: string): void {
  // Only the structure: the narrative rules are enforced on write (narrative.ts), and a resource
  // stored before them must still be readable as XML if it is well-formed.
  const [problem] = narrativeProblems(div, true).problems;
  if (problem) throw invalid(`${path} ${problem}`);
}

// XML 1.0 cannot carry these control characters at all, not even as character references.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const ATTRIBUTE_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\n': '&#10;', '\r': '&#13;', '\t': '&#9;' };

/** Newlines and tabs become character references, or a conforming parser would read them back as spaces. */
function escapeAttribute(text: string, path: string): string {
  if (FORBIDDEN_XML_CHARS.test(text)) throw invalid(`${path} contains a control character that XML cannot represent`);
  return /[&<>"\n\r\t]/.test(text) ? text.replace(/[&<>"\n\r\t]/g, (c) => ATTRIBUTE_ESCAPES[c]) : text;
}

// ---------------------------------------------------------------------------------------------
// shared
// ---------------------------------------------------------------------------------------------

function asArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(`${path} repeats and must be an array`);
  return value;
}

function asObject(value: unknown, path: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${path} must be an object`);
  return value as Json;
}

function checkDepth(depth: number, path: string): void {
  if (depth > MAX_XML_DEPTH) throw invalid(`${path} is nested more than ${MAX_XML_DEPTH} levels deep`);
}

function invalid(msg: string): OperationOutcomeError {
  return OperationOutcomeError.of(400, 'invalid', msg);
}

function structure(msg: string): OperationOutcomeError {
  return OperationOutcomeError.of(400, 'structure', msg);
}
