import type { Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError, outcome } from '../operation-outcome';
import { IntegrityError } from '../write/constraint-errors';
import { collectReferences } from '../references/reference-rewriter';
import type { ParsedEntry } from './bundle-request';
import type { Target } from './bulk-chunk';
import { ENTRY_LINKS } from './batch-criteria';

/**
 * The error as the entry's: each issue's diagnostics start with `Bundle.entry[n] (METHOD Type)`
 * and its expressions name `Bundle.entry[n]` (the resource's own paths are kept after it). Pure.
 */
export function nameEntry(err: OperationOutcomeError, e: Pick<ParsedEntry, 'index' | 'method' | 'resourceType'>): OperationOutcomeError {
  const at = `Bundle.entry[${e.index}]`;
  const request = `${at} (${e.method} ${e.resourceType})`;
  const issues = (err.outcome.issue ?? []).map((i) => {
    const d = i.diagnostics ?? '';
    const diagnostics = d.startsWith(`${at} (`) ? d : d.startsWith(`${at}:`) ? `${request}${d.slice(at.length)}` : `${request}: ${d}`;
    const expression = i.expression ?? [];
    return { ...i, diagnostics, expression: expression.some((x) => x === at || x.startsWith(`${at}.`)) ? expression : [at, ...expression] };
  });
  return new OperationOutcomeError(err.status, outcome(issues));
}

/**
 * A transaction's failure as the client should read it: one found only at its end (a reference to
 * a missing resource, a deletion of one still referenced, checked at commit) is named after the
 * entry that holds the reference or deletes the resource; and an id this server made for an entry
 * (rolled back, so it never existed) is replaced by the entry's name. Pure.
 */
export function namedFailure(
  err: unknown,
  entries: ParsedEntry[],
  targets: ReadonlyMap<number, Target>,
  written: ReadonlyMap<number, Resource>,
): unknown {
  if (!(err instanceof OperationOutcomeError)) return err;
  const culprit = namesAnEntry(err) ? undefined : culpritOf(err, entries, targets, written);
  return withoutMadeUpIds(culprit ? nameEntry(err, culprit) : err, entries, targets);
}

function namesAnEntry(err: OperationOutcomeError): boolean {
  return (err.outcome.issue ?? []).some((i) => i.diagnostics?.startsWith('Bundle.entry[') || i.expression?.some((x) => x.startsWith('Bundle.entry[')));
}

/** The entry an integrity failure is about: the first that refers to the missing resource, or the one that deletes the referenced one. */
function culpritOf(err: OperationOutcomeError, entries: ParsedEntry[], targets: ReadonlyMap<number, Target>, written: ReadonlyMap<number, Resource>): ParsedEntry | undefined {
  if (!(err instanceof IntegrityError)) return undefined;
  const key = (e: ParsedEntry) => `${e.resourceType}/${targets.get(e.index)?.id}`;
  if (err.kind === 'referenced') return entries.find((e) => e.method === 'DELETE' && key(e) === err.target) ?? entries.find((e) => e.method !== 'GET' && e.method !== 'HEAD' && key(e) === err.target);
  return entries.find((e) => {
    const resource = written.get(e.index);
    return !!resource && collectReferences(resource, ENTRY_LINKS).some(({ reference }) => reference === err.target || reference.startsWith(`${err.target}/_history/`));
  });
}

function withoutMadeUpIds(err: OperationOutcomeError, entries: ParsedEntry[], targets: ReadonlyMap<number, Target>): OperationOutcomeError {
  const made = entries.flatMap((e) => {
    const t = targets.get(e.index);
    return t?.made && t.id ? [{ key: `${e.resourceType}/${t.id}`, name: `the new ${e.resourceType} of Bundle.entry[${e.index}]${e.fullUrl ? ` (fullUrl ${e.fullUrl})` : ''}` }] : [];
  });
  const text = JSON.stringify(err.outcome);
  if (!made.some((m) => text.includes(m.key))) return err;
  const clean = (s: string) => made.reduce((out, m) => out.split(m.key).join(m.name), s);
  return new OperationOutcomeError(err.status, outcome((err.outcome.issue ?? []).map((i) => ({ ...i, ...(i.diagnostics ? { diagnostics: clean(i.diagnostics) } : {}) }))));
}
