import type { IndexRows, TokenRow } from './index-extractor';
import { identifierCode } from './index-extractor';
import { searchParam } from './search-parameters';
import { splitUnescaped, unescapeValue } from './search-request';
import { isSecretParam } from './search-secrets';
import { capText, dateRange, exactString, normalizeString, parseLocalReference } from './search-values';
import { isEncryptedType } from '../store/sensitivity';

/**
 * One search clause (`name=value`) decided against a resource's index rows as extractIndexRows
 * makes them (clear values), the way search-conditions.ts decides it against the stored rows: lets
 * a transaction's criteria see a resource it writes before that resource is indexed. Covers
 * string, token, date, reference and uri parameters with their usual modifiers; undefined for
 * what it leaves to the database (chains, _has, _lastUpdated, numbers, quantities, composites,
 * :text, `ap` dates) and for malformed values (the database's search of the same criteria refuses
 * them first). `base`: this server's FHIR base, which a reference value may start with. Pure.
 */
export function clauseMatchesRows(resourceType: string, name: string, value: string, rows: IndexRows, base: string): boolean | undefined {
  if (name.startsWith('_has:') || name.includes('.')) return undefined;
  const [code, modifier, ...rest] = name.split(':');
  if (rest.length) return undefined;
  const def = searchParam(resourceType, code);
  if (!def?.atom) return undefined;
  const secret = isEncryptedType(resourceType) && isSecretParam(resourceType, code);
  if (modifier === 'missing') {
    if ((value !== 'true' && value !== 'false') || !(def.type in rows)) return undefined; // composite, special
    let present = (rows[def.type as keyof IndexRows] as Array<{ code: string }>).some((r) => r.code === code);
    if (def.type === 'reference') present ||= rows.token.some((r) => r.code === identifierCode(code));
    return value === 'true' ? !present : present;
  }
  const alternatives = splitUnescaped(value, ',');
  if (alternatives.some((v) => v === '')) return undefined;
  const any = (test: (v: string) => boolean | undefined): boolean | undefined => {
    let verdict: boolean | undefined = false;
    for (const v of alternatives) {
      const one = test(v);
      if (one) return true;
      if (one === undefined) verdict = undefined;
    }
    return verdict;
  };
  switch (def.type) {
    case 'string': {
      if (secret && modifier) return undefined; // refused by the search side
      const strings = rows.string.filter((r) => r.code === code);
      return any((v) => {
        const s = unescapeValue(v);
        const norm = normalizeString(s);
        if (!norm) return undefined;
        // A secret field is matched by the keyed hash of its whole normalised value.
        if (secret) return strings.some((r) => capText(r.value) === norm);
        if (modifier === 'exact') return strings.some((r) => capText(r.exact) === exactString(s));
        if (modifier === 'contains') return strings.some((r) => capText(r.value).includes(norm));
        if (modifier !== undefined) return undefined;
        return strings.some((r) => capText(r.value).startsWith(norm));
      });
    }
    case 'token': {
      if (modifier !== undefined && modifier !== 'not') return undefined;
      const tokens = rows.token.filter((r) => r.code === code);
      const found = any((v) => tokenMatches(tokens, v, secret));
      return modifier === 'not' && found !== undefined ? !found : found;
    }
    case 'date': {
      if (modifier !== undefined) return undefined;
      const dates = rows.date.filter((r) => r.code === code);
      return any((v) => {
        const m = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.*)$/.exec(v) as RegExpExecArray;
        const prefix = m[1] ?? 'eq';
        const range = dateRange(m[2]);
        if (!range || prefix === 'ap') return undefined;
        const sl = instant(range.low);
        const sh = instant(range.high);
        return dates.some((r) => {
          const rl = instant(r.low);
          const rh = instant(r.high);
          const contained = rl >= sl && rh <= sh;
          switch (prefix) {
            case 'eq': return contained;
            case 'ne': return !contained;
            case 'gt': return rh > sh;
            case 'lt': return rl < sl;
            case 'ge': return rh > sh || contained;
            case 'le': return rl < sl || contained;
            case 'sa': return rl >= sh;
            default: return rh <= sl; // eb
          }
        });
      });
    }
    case 'reference': {
      if (modifier === 'identifier') {
        const tokens = rows.token.filter((r) => r.code === identifierCode(code));
        return any((v) => tokenMatches(tokens, v, isEncryptedType(resourceType)));
      }
      const targetType = modifier !== undefined && /^[A-Z]/.test(modifier) ? modifier : undefined;
      if (modifier !== undefined && !targetType) return undefined;
      const refs = rows.reference.filter((r) => r.code === code);
      const trimmed = base.replace(/\/$/, '');
      return any((raw) => {
        let v = unescapeValue(raw);
        if (v.startsWith(`${trimmed}/`)) v = v.slice(trimmed.length + 1);
        const local = parseLocalReference(v.split('|')[0]);
        if (local) return refs.some((r) => r.targetType === local.type && r.targetId === local.id);
        if (/^[A-Za-z0-9\-.]{1,64}$/.test(v)) {
          const types = targetType ? [targetType] : def.targets;
          return refs.some((r) => r.targetId === v && (!types.length || types.includes(r.targetType as string)));
        }
        if (/^[a-z][a-z0-9+.-]*:/i.test(v)) return refs.some((r) => r.url === capText(v.split('|')[0]));
        return undefined;
      });
    }
    case 'uri': {
      const uris = rows.uri.filter((r) => r.code === code);
      return any((raw) => {
        const v = capText(unescapeValue(raw));
        const path = v.replace(/\/+$/, '');
        if (modifier === 'below') return uris.some((r) => r.value === v || r.value.startsWith(`${path}/`));
        if (modifier === 'above') return uris.some((r) => r.value === v || v.startsWith(`${r.value.replace(/\/+$/, '')}/`));
        if (modifier !== undefined) return undefined;
        return uris.some((r) => r.value === v);
      });
    }
    default:
      return undefined;
  }
}

/** A token value (`code`, `system|code`, `|code`, `system|`) against token rows, as tokenMatch compares them (a secret field by whole system and value). */
function tokenMatches(rows: TokenRow[], value: string, secret: boolean): boolean | undefined {
  const parts = splitUnescaped(value, '|');
  if (parts.length > 2) return undefined;
  const [a, b] = parts.map((p) => capText(unescapeValue(p)));
  const val = (r: TokenRow) => (r.value === null ? null : capText(r.value));
  const sys = (r: TokenRow) => (r.system === null ? null : capText(r.system));
  if (parts.length === 1) return rows.some((r) => val(r) === a);
  if (!a && !b) return undefined;
  // The keyed hash of a secret field takes a missing system as empty.
  if (!a) return rows.some((r) => val(r) === b && (secret ? (sys(r) ?? '') === '' : sys(r) === null));
  if (!b) return rows.some((r) => sys(r) === a);
  return rows.some((r) => sys(r) === a && val(r) === b);
}

/** An index row's or search range's end as milliseconds (the open ends as infinities). */
function instant(iso: string): number {
  if (iso === '-infinity') return -Infinity;
  if (iso === 'infinity') return Infinity;
  return Date.parse(iso);
}
