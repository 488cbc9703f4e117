import type { PreparedInput } from './ai-plugin';

/**
 * The inputs of a result, as one key: the model version, the sorted references of the resources
 * its input was built from (`basis`), and what the model was fed from them: each input's value
 * (NaN where imputed), the imputed inputs and the values refused with their reason. Two runs with
 * the same key compute the same result, so only one is written (triage: one result per model
 * version and set of inputs). The key holds the values, not the resources' version ids: a new
 * version of an input that leaves its value alone (an EHR adding an interpretation or a note to a
 * vital sign, re-sending its own copy) feeds the model the same numbers, and a second assessment,
 * alert and recommendation for them would only be a duplicate. A new reading (another resource) or
 * a changed value is a new input. Pure.
 */
export function basisKey(modelId: string, prepared: Exclude<PreparedInput, { kind: 'fail' }>): string {
  const refs = [...new Set(prepared.basis)].sort();
  const row = prepared.kind === 'run' ? Object.keys(prepared.row).sort().map((name) => `${name}=${valueText(prepared.row[name])}`) : [];
  return [
    modelId,
    ...refs,
    ...row,
    ...(prepared.imputed.length ? [`imputed=${[...prepared.imputed].sort().join(',')}`] : []),
    ...[...prepared.problems].sort().map((p) => `refused=${p}`),
    ...(prepared.kind === 'insufficient' ? [`insufficient=${prepared.reason}`] : []),
  ].join(' ');
}

/** A fed value as text: numbers by their shortest round-trip form (NaN: imputed), text quoted. */
function valueText(v: number | string): string {
  return typeof v === 'number' ? String(v) : JSON.stringify(v);
}
