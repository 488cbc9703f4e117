import { badRequest } from '../operation-outcome';
import { mayReferTo, searchParam, targetsText } from './search-parameters';

/** One search parameter as given: name (with chain, modifier) and its value (commas: OR). */
export interface SearchClause {
  name: string;
  value: string;
}

export interface IncludeSpec {
  sourceType: string;
  /** A reference parameter of sourceType, or `*` for all. */
  code: string;
  targetType?: string;
  iterate: boolean;
}

export interface SortSpec {
  code: string;
  descending: boolean;
}

export type TotalMode = 'none' | 'estimate' | 'accurate';
export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';

/** A parsed search: filter clauses (AND) and what shapes the result. */
export interface SearchRequest {
  clauses: SearchClause[];
  sort: SortSpec[];
  count: number;
  cursor?: string;
  total?: TotalMode;
  summary?: SummaryMode;
  elements?: string[];
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  /** `_type` at system level. */
  types?: string[];
}

export interface SearchLimits {
  defaultCount: number;
  maxCount: number;
}

/** Parameters that shape the result rather than filter it. */
const RESULT_PARAMS = new Set(['_sort', '_count', '_cursor', '_total', '_summary', '_elements', '_include', '_revinclude', '_type', '_format', '_pretty']);

/**
 * Parses a search's query (from the URL, or the form body of POST _search) into filter clauses and
 * result parameters. Malformed result parameters are a 400 naming the parameter. Pure (reads the
 * search parameter definitions).
 */
export function parseSearchRequest(params: Array<[string, string]>, limits: SearchLimits): SearchRequest {
  const request: SearchRequest = { clauses: [], sort: [], count: limits.defaultCount, include: [], revinclude: [] };
  const once = new Set<string>();
  for (const [rawName, value] of params) {
    const name = rawName.trim();
    // PostgreSQL text cannot hold NUL; nothing indexed contains it, so such a value is malformed.
    if (name.includes('\u0000') || value.includes('\u0000')) throw badRequest(`${truncate(name.replace(/\u0000/g, ''))}: the value contains a NUL character`);
    const base = name.split(':')[0];
    if (!RESULT_PARAMS.has(base)) {
      if (!name) throw badRequest('A search parameter has no name');
      request.clauses.push({ name, value });
      continue;
    }
    if (!['_include', '_revinclude', '_sort', '_elements', '_type'].includes(base)) {
      if (once.has(base)) throw badRequest(`${base} may be given only once`);
      once.add(base);
    }
    switch (base) {
      case '_count': {
        if (!/^\d{1,9}$/.test(value)) throw badRequest(`_count must be a non-negative integer, got "${truncate(value)}"`);
        const n = Number(value);
        if (n > limits.maxCount) throw badRequest(`_count ${n} is more than this server's maximum page size of ${limits.maxCount}`);
        request.count = n;
        break;
      }
      case '_cursor':
        request.cursor = value;
        break;
      case '_total':
        if (!['none', 'estimate', 'accurate'].includes(value)) throw badRequest(`_total must be none, estimate or accurate, got "${truncate(value)}"`);
        request.total = value as TotalMode;
        break;
      case '_summary':
        if (!['true', 'text', 'data', 'count', 'false'].includes(value)) throw badRequest(`_summary must be true, text, data, count or false, got "${truncate(value)}"`);
        request.summary = value as SummaryMode;
        break;
      case '_elements':
        request.elements = [...(request.elements ?? []), ...splitList(value, '_elements', /^[A-Za-z][A-Za-z0-9]*(\[x\])?$/)];
        break;
      case '_type':
        request.types = [...(request.types ?? []), ...splitList(value, '_type', /^[A-Z][A-Za-z]+$/)];
        break;
      case '_sort':
        for (const key of splitList(value, '_sort', /^-?[A-Za-z_][A-Za-z0-9_-]*$/)) {
          request.sort.push({ code: key.replace(/^-/, ''), descending: key.startsWith('-') });
        }
        break;
      case '_include':
      case '_revinclude': {
        const modifier = name.slice(base.length + 1);
        if (modifier && modifier !== 'iterate' && modifier !== 'recurse') throw badRequest(`${name}: the only modifier of ${base} is :iterate`);
        const spec = parseInclude(base, value, !!modifier);
        (base === '_include' ? request.include : request.revinclude).push(spec);
        break;
      }
      default:
        break; // _format, _pretty: handled by content negotiation
    }
  }
  // Each clause is a join for the planner, whose work grows much faster than their number.
  if (request.clauses.length > MAX_CLAUSES) throw badRequest(`A search may combine at most ${MAX_CLAUSES} parameters; this one has ${request.clauses.length}`);
  for (const c of request.clauses) {
    if (splitUnescaped(c.value, ',').length > MAX_VALUES) throw badRequest(`${truncate(c.name)}: at most ${MAX_VALUES} values separated by commas`);
  }
  if (request.include.length + request.revinclude.length > MAX_CLAUSES) throw badRequest(`At most ${MAX_CLAUSES} _include and _revinclude parameters`);
  return request;
}

const MAX_CLAUSES = 32;
const MAX_VALUES = 100;

function parseInclude(param: string, value: string, iterate: boolean): IncludeSpec {
  if (value === '*') return { sourceType: '*', code: '*', iterate }; // every reference parameter
  const m = /^([A-Z][A-Za-z]+|\*):([A-Za-z0-9_-]+|\*)(?::([A-Z][A-Za-z]+))?$/.exec(value);
  if (!m) throw badRequest(`${param} must be SourceType:parameter[:TargetType], got "${truncate(value)}"`);
  const [, sourceType, code, targetType] = m;
  // A target type the parameter can never point to would include nothing, silently: the client's
  // mistake, as in a reference search. (Unknown types and parameters are the search's checks.)
  const def = targetType && sourceType !== '*' && code !== '*' ? searchParam(sourceType, code) : undefined;
  if (def?.type === 'reference' && !mayReferTo(def, targetType)) {
    throw badRequest(`${param}=${sourceType}:${code}:${targetType}: ${sourceType}'s ${code} refers only to ${targetsText(def)}, never to a ${targetType}`);
  }
  return { sourceType, code, targetType, iterate };
}

function splitList(value: string, param: string, pattern: RegExp): string[] {
  const items = value.split(',').map((s) => s.trim());
  for (const i of items) if (!pattern.test(i)) throw badRequest(`${param} has an invalid item "${truncate(i)}"`);
  return items;
}

/** Long hostile values are cut in messages. */
export function truncate(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Splits on a separator that is not escaped with a backslash. */
export function splitUnescaped(raw: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '\\' && i + 1 < raw.length) {
      cur += raw[i] + raw[i + 1];
      i++;
    } else if (raw[i] === sep) {
      parts.push(cur);
      cur = '';
    } else cur += raw[i];
  }
  parts.push(cur);
  return parts;
}

/** Removes search escapes (`\,` `\|` `\$` `\\`). */
export function unescapeValue(s: string): string {
  return s.replace(/\\([\\|,$])/g, '$1');
}
