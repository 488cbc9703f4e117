/**
 * Stock arithmetic of the pharmacy, pure: whether a drug can be supplied at a given time, and
 * which batches a dispense takes its units from. A batch is usable through its expiry date (UTC
 * calendar day) and expired from the day after. Batches are used first-expiry-first-out.
 */
export interface StockBatch {
  /** The Medication id (one Medication per batch). */
  id: string;
  name?: string;
  code?: string;
  lot?: string;
  stock: number;
  /** YYYY-MM-DD, the last day the batch may be used. */
  expiry?: string;
}

export interface Allocation {
  id: string;
  quantity: number;
}

export type StockProblem = 'out-of-stock' | 'insufficient' | 'expired';

export type StockVerdict = { ok: true; allocations: Allocation[] } | { ok: false; problem: StockProblem; message: string };

const day = (at: Date) => at.toISOString().slice(0, 10);

export function isExpired(batch: Pick<StockBatch, 'expiry'>, at: Date): boolean {
  return !!batch.expiry && batch.expiry < day(at);
}

/** How a drug is named in a refusal: its stocked name (else the request's), code, and batches. */
export function itemLabel(fallback: string, batches: Array<Pick<StockBatch, 'id' | 'lot' | 'code' | 'name'>>): string {
  const label = batches.find((b) => b.name)?.name ?? fallback;
  const code = batches.find((b) => b.code)?.code;
  const ids = batches.map((b) => `Medication/${b.id}${b.lot ? ` lot ${b.lot}` : ''}`).join(', ');
  return `${label}${code && code !== label ? ` (code ${code})` : ''}${ids ? ` [${ids}]` : ''}`;
}

/**
 * Whether `requested` units can be supplied at `at` from these batches (all of one drug), and if
 * so from which: usable batches by earliest expiry (no expiry last), then id.
 */
export function allocate(batches: StockBatch[], requested: number, at: Date, label: string): StockVerdict {
  const usable = batches
    .filter((b) => b.stock > 0 && !isExpired(b, at))
    .sort((a, b) => (a.expiry ?? '9999').localeCompare(b.expiry ?? '9999') || a.id.localeCompare(b.id));
  const expired = batches.filter((b) => b.stock > 0 && isExpired(b, at));
  const available = usable.reduce((n, b) => n + b.stock, 0);
  const expiredNote = expired.length
    ? `; expired: ${expired.map((b) => `${b.lot ? `lot ${b.lot}` : `Medication/${b.id}`} (${b.stock} units, expired ${b.expiry})`).join(', ')}`
    : '';
  if (available === 0 && expired.length) {
    return { ok: false, problem: 'expired', message: `${label}: every batch in stock has expired by ${day(at)}${expiredNote}` };
  }
  if (available === 0) return { ok: false, problem: 'out-of-stock', message: `${label}: out of stock (0 units on hand)` };
  if (available < requested) {
    return { ok: false, problem: 'insufficient', message: `${label}: ${requested} units needed but only ${available} usable on hand${expiredNote}` };
  }
  const allocations: Allocation[] = [];
  let left = requested;
  for (const b of usable) {
    if (left <= 0) break;
    const take = Math.min(left, b.stock);
    allocations.push({ id: b.id, quantity: take });
    left -= take;
  }
  return { ok: true, allocations };
}
