import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evalFhirPath } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { SaxesParser } from 'saxes';
import { resourceToXml, xmlToResource } from '../../src/fhir/rest/fhir-xml';

/**
 * A TestScript interpreter (http://hl7.org/fhir/R4/testscript.html) for the operations and asserts
 * that the published R4 TestScripts use: fixtures, variables, read / vread / create / update /
 * delete / search / history, and asserts on the response code, headers, content type, resource
 * type, FHIRPath expressions, XPath paths (on the XML form of the resource, as the scripts were
 * written for XML), compareToSource, minimumId, navigationLinks and validateProfileId (through the
 * server's own $validate). Every origin and destination is the one server under test.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface TestScriptOptions {
  /** http://host:port/fhir */
  fhirBase: string;
  token: string;
  /** Where the script's file lives: relative fixture references are read from here. */
  scriptDir: string;
  /** Fixture references such as `Patient/example`: the JSON of that resource. */
  resolveReference(reference: string): Json;
  /** Values for variables that only carry a hint (they ask the tester for a value). */
  variables?: Record<string, string>;
}

export interface AssertResult {
  section: string;
  label: string;
  passed: boolean;
  warningOnly: boolean;
  message: string;
}

interface Exchange {
  request: { method: string; url: string; headers: Record<string, string> };
  status: number;
  headers: Headers;
  body: string;
  resource?: Json;
}

const RESPONSE_CODES: Record<string, number> = {
  okay: 200,
  created: 201,
  noContent: 204,
  notModified: 304,
  bad: 400,
  forbidden: 403,
  notFound: 404,
  methodNotAllowed: 405,
  conflict: 409,
  gone: 410,
  preconditionFailed: 412,
  unprocessable: 422,
};

const MIME: Record<string, string> = { json: 'application/fhir+json', xml: 'application/fhir+xml' };

export async function runTestScript(script: Json, options: TestScriptOptions): Promise<AssertResult[]> {
  const run = new ScriptRun(script, options);
  return run.all();
}

class ScriptRun {
  private readonly fixtures = new Map<string, Json>();
  private readonly responses = new Map<string, Exchange>();
  private last?: Exchange;
  private readonly results: AssertResult[] = [];

  constructor(
    private readonly script: Json,
    private readonly options: TestScriptOptions,
  ) {
    for (const f of (script.fixture ?? []) as Json[]) {
      const ref = f.resource?.reference as string;
      this.fixtures.set(f.id, /\.json$/.test(ref) ? JSON.parse(readFileSync(join(options.scriptDir, ref), 'utf8')) : options.resolveReference(ref));
    }
  }

  async all(): Promise<AssertResult[]> {
    if (this.script.setup) await this.actions('setup', this.script.setup.action);
    for (const t of (this.script.test ?? []) as Json[]) await this.actions(`test ${t.id ?? t.name}`, t.action);
    if (this.script.teardown) await this.actions('teardown', this.script.teardown.action);
    return this.results;
  }

  private async actions(section: string, actions: Json[] = []): Promise<void> {
    for (const a of actions) {
      if (a.operation) await this.operation(a.operation);
      if (a.assert) await this.assert(section, a.assert);
    }
  }

  // --- operations -------------------------------------------------------------------------------

  private async operation(op: Json): Promise<void> {
    const code = op.type?.code as string;
    const method = { read: 'GET', vread: 'GET', search: 'GET', history: 'GET', create: 'POST', update: 'PUT', delete: 'DELETE', patch: 'PATCH' }[code];
    if (!method) throw new Error(`operation ${code} is not supported by this runner`);
    const url = this.operationUrl(op, code);
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, accept: MIME[op.accept ?? 'json'] ?? op.accept };
    for (const h of (op.requestHeader ?? []) as Json[]) headers[h.field.toLowerCase()] = this.substitute(h.value);
    let body: string | undefined;
    if (op.sourceId && (method === 'POST' || method === 'PUT')) {
      const resource = { ...this.source(op.sourceId) } as Json;
      // An update names its target in the URL; the body carries that id (as TestScript engines do).
      if (method === 'PUT') resource.id = url.split('?')[0].split('/').pop();
      else delete resource.id;
      const type = op.contentType ?? 'json';
      headers['content-type'] = MIME[type] ?? type;
      body = type === 'xml' ? resourceToXml(resource as Resource) : JSON.stringify(resource);
    }
    const res = await fetch(url, { method, headers, body });
    const text = await res.text();
    const exchange: Exchange = { request: { method, url, headers }, status: res.status, headers: res.headers, body: text };
    exchange.resource = parseBody(text, res.headers.get('content-type') ?? '');
    this.last = exchange;
    if (op.responseId) this.responses.set(op.responseId, exchange);
    if (op.requestId) this.responses.set(op.requestId, exchange);
  }

  private operationUrl(op: Json, code: string): string {
    const base = this.options.fhirBase;
    if (op.url) return this.substitute(op.url);
    const type = op.resource as string | undefined;
    if (op.params !== undefined) return `${base}/${type}${this.substitute(op.params)}`;
    if (op.targetId) {
      const target = this.source(op.targetId);
      const path = `${base}/${target.resourceType}/${target.id}`;
      if (code === 'history') return `${path}/_history`;
      if (code === 'vread') return `${path}/_history/${target.meta?.versionId}`;
      return path;
    }
    return `${base}/${type}`;
  }

  /** A fixture, or the resource a named response carried. */
  private source(id: string): Json {
    const fixture = this.fixtures.get(id);
    if (fixture) return fixture;
    const response = this.responses.get(id);
    if (response?.resource) return response.resource;
    throw new Error(`no fixture or response named ${id}`);
  }

  private substitute(text: string): string {
    return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => this.variable(name));
  }

  private variable(name: string): string {
    const v = ((this.script.variable ?? []) as Json[]).find((x) => x.name === name);
    if (!v) throw new Error(`unknown variable ${name}`);
    const given = this.options.variables?.[name];
    if (given !== undefined) return given;
    if (v.headerField) return this.responses.get(v.sourceId)?.headers.get(v.headerField) ?? v.defaultValue ?? '';
    const resource = v.sourceId ? this.source(v.sourceId) : this.last?.resource;
    if (v.expression && resource) return String(evalFhirPath(v.expression, resource)[0] ?? v.defaultValue ?? '');
    if (v.path && resource) return xpath(resource, v.path)[0] ?? v.defaultValue ?? '';
    if (v.defaultValue !== undefined) return v.defaultValue;
    throw new Error(`variable ${name} has no value (give one in the options)`);
  }

  // --- asserts -----------------------------------------------------------------------------------

  private async assert(section: string, a: Json): Promise<void> {
    const label = a.label ?? a.description ?? JSON.stringify(a);
    const record = (passed: boolean, message: string) =>
      this.results.push({ section, label, passed, warningOnly: a.warningOnly === true, message });
    try {
      const [passed, message] = await this.check(a);
      record(passed, message);
    } catch (e) {
      record(false, (e as Error).message);
    }
  }

  private async check(a: Json): Promise<[boolean, string]> {
    const ex = a.sourceId ? this.responses.get(a.sourceId) : this.last;
    const operator = (a.operator as string | undefined) ?? 'equals';
    if (a.response) {
      const want = RESPONSE_CODES[a.response];
      return [ex?.status === want, `status ${ex?.status}, expected ${want} (${a.response})`];
    }
    if (a.responseCode) return [compare(String(ex?.status), operator, a.responseCode), `status ${ex?.status} ${operator} ${a.responseCode}`];
    if (a.requestMethod) return [ex?.request.method.toLowerCase() === a.requestMethod, `request method ${ex?.request.method}`];
    if (a.requestURL) return [compare(ex?.request.url ?? '', operator, a.requestURL), `request URL ${ex?.request.url}`];
    if (a.contentType) {
      const got = ex?.headers.get('content-type') ?? '';
      const want = MIME[a.contentType] ?? a.contentType;
      return [got.startsWith(want), `Content-Type ${got}, expected ${want}`];
    }
    if (a.headerField) {
      const got = a.direction === 'request' ? ex?.request.headers[a.headerField.toLowerCase()] : ex?.headers.get(a.headerField);
      return [compare(got ?? '', operator, a.value), `${a.headerField}: ${got ?? '(absent)'}`];
    }
    if (a.resource) return [ex?.resource?.resourceType === a.resource, `resource ${ex?.resource?.resourceType}, expected ${a.resource}`];
    if (a.navigationLinks) return navigationLinks(ex?.resource);
    if (a.minimumId) {
      const missing = missingFrom(this.source(a.minimumId), ex?.resource);
      return [missing.length === 0, missing.length ? `missing: ${missing.slice(0, 5).join(', ')}` : 'every element of the minimum is present'];
    }
    if (a.validateProfileId) return this.validate(ex?.resource, this.profile(a.validateProfileId));
    if (a.expression || a.path) {
      const resource = a.sourceId ? this.source(a.sourceId) : ex?.resource;
      if (!resource) return [false, 'no resource to evaluate'];
      const got = a.expression ? evalFhirPath(a.expression, resource).map(String) : xpath(resource, a.path);
      let want: string | undefined = a.value !== undefined ? this.substitute(a.value) : undefined;
      if (a.compareToSourceId) {
        const other = this.source(a.compareToSourceId);
        want = (a.compareToSourceExpression ? evalFhirPath(a.compareToSourceExpression, other).map(String) : xpath(other, a.compareToSourcePath))[0];
      }
      if (want === undefined) return [got.length > 0 && got.every((g) => g === 'true'), `${a.expression ?? a.path} = ${JSON.stringify(got)}`];
      return [compare(got[0] ?? '', operator, want), `${a.expression ?? a.path} = ${JSON.stringify(got)}, ${operator} ${JSON.stringify(want)}`];
    }
    if (a.compareToSourceId && a.compareToSourceExpression) {
      // Without an own expression or path: the same expression on the response and on the source.
      const got = evalFhirPath(a.compareToSourceExpression, ex?.resource ?? {}).map(String);
      const want = evalFhirPath(a.compareToSourceExpression, this.source(a.compareToSourceId)).map(String);
      return [compare(got[0] ?? '', operator, want[0] ?? ''), `${a.compareToSourceExpression}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`];
    }
    throw new Error(`assert not supported by this runner: ${JSON.stringify(a)}`);
  }

  private profile(id: string): string {
    const p = ((this.script.profile ?? []) as Json[]).find((x) => x.id === id);
    if (!p) throw new Error(`unknown profile ${id}`);
    return p.reference as string;
  }

  /** The server's own $validate, for the base profile of the resource's type. */
  private async validate(resource: Json | undefined, profile: string): Promise<[boolean, string]> {
    if (!resource) return [false, 'no resource to validate'];
    const type = resource.resourceType as string;
    if (profile !== `http://hl7.org/fhir/StructureDefinition/${type}`) throw new Error(`only base profiles can be checked here, not ${profile}`);
    const res = await fetch(`${this.options.fhirBase}/${type}/$validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.options.token}`, 'content-type': MIME.json, accept: MIME.json },
      body: JSON.stringify(resource),
    });
    const outcome = (await res.json()) as Json;
    const errors = ((outcome.issue ?? []) as Json[]).filter((i) => i.severity === 'error' || i.severity === 'fatal');
    return [res.status === 200 && errors.length === 0, `$validate against ${profile}: ${res.status}, ${errors.length} errors ${JSON.stringify(errors).slice(0, 300)}`];
  }
}

function parseBody(text: string, contentType: string): Json | undefined {
  if (!text) return undefined;
  if (contentType.includes('xml')) return xmlToResource(text) as Json;
  if (contentType.includes('json')) return JSON.parse(text) as Json;
  return undefined;
}

function compare(got: string, operator: string, want: string | undefined): boolean {
  switch (operator) {
    case 'equals':
      return got === want;
    case 'notEquals':
      return got !== want;
    case 'in':
      return (want ?? '').split(',').map((s) => s.trim()).includes(got);
    case 'notIn':
      return !(want ?? '').split(',').map((s) => s.trim()).includes(got);
    case 'contains':
      return got.includes(want ?? '');
    case 'notContains':
      return !got.includes(want ?? '');
    case 'empty':
      return got === '';
    case 'notEmpty':
      return got !== '';
    case 'greaterThan':
      return Number(got) > Number(want);
    case 'lessThan':
      return Number(got) < Number(want);
    default:
      throw new Error(`operator ${operator} is not supported by this runner`);
  }
}

/** A searchset or history Bundle's links: a self link, absolute URLs, and a next link whenever more is left. */
function navigationLinks(bundle: Json | undefined): [boolean, string] {
  if (bundle?.resourceType !== 'Bundle') return [false, 'not a Bundle'];
  const links = (bundle.link ?? []) as Json[];
  const relations = links.map((l) => l.relation as string);
  const absolute = links.every((l) => /^https?:\/\//.test(l.url));
  const more = typeof bundle.total === 'number' && bundle.total > ((bundle.entry ?? []) as Json[]).length;
  const ok = relations.includes('self') && relations.includes('first') && absolute && (!more || relations.includes('next'));
  return [ok, `links ${relations.join(', ')}`];
}

/** Paths of the minimum resource's values that the actual resource lacks (arrays: each item found somewhere). */
function missingFrom(minimum: Json, actual: Json | undefined, path = ''): string[] {
  if (actual === undefined) return [path || '(resource)'];
  const out: string[] = [];
  for (const [k, v] of Object.entries(minimum)) {
    if (k === 'id' || k === 'meta' || k === 'text') continue;
    const here = path ? `${path}.${k}` : k;
    const a = (actual as Json)[k];
    if (Array.isArray(v)) {
      for (const item of v) {
        const candidates = Array.isArray(a) ? a : [];
        const found = candidates.some((c) => (typeof item === 'object' ? missingFrom(item, c, here).length === 0 : c === item));
        if (!found) out.push(`${here}[${JSON.stringify(item).slice(0, 40)}]`);
      }
    } else if (v && typeof v === 'object') out.push(...missingFrom(v, a, here));
    else if (a !== v) out.push(here);
  }
  return out;
}

// --- XPath, the subset the scripts use: child steps from the root element, then @attribute ---------

interface XmlNode {
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
}

function parseXml(xml: string): XmlNode {
  const parser = new SaxesParser({ xmlns: true });
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  parser.on('opentag', (tag) => {
    const node: XmlNode = { name: tag.local, attributes: {}, children: [] };
    for (const a of Object.values(tag.attributes)) node.attributes[(a as { local: string }).local] = (a as { value: string }).value;
    if (stack.length) stack[stack.length - 1].children.push(node);
    else root = node;
    stack.push(node);
  });
  parser.on('closetag', () => stack.pop());
  parser.write(xml).close();
  if (!root) throw new Error('empty XML');
  return root;
}

/**
 * `fhir:Patient/fhir:name/fhir:family/@value` (or `Patient/id`, read as its value attribute) on
 * the resource's XML form: the values of every match, in document order.
 */
export function xpath(resource: Json, path: string): string[] {
  const root = parseXml(resourceToXml(resource as Resource));
  const steps = path.replace(/^\/+/, '').split('/').map((s) => s.replace(/^fhir:/, ''));
  const last = steps[steps.length - 1];
  const attribute = last.startsWith('@') ? last.slice(1) : 'value';
  const elements = last.startsWith('@') ? steps.slice(0, -1) : steps;
  if (elements[0] !== root.name) return [];
  let nodes = [root];
  for (const step of elements.slice(1)) nodes = nodes.flatMap((n) => n.children.filter((c) => c.name === step));
  return nodes.map((n) => n.attributes[attribute]).filter((v): v is string => v !== undefined);
}
