import { allocate, isExpired, itemLabel, type StockBatch } from './stock';

const at = new Date('2026-11-27T10:00:00Z');
const b = (id: string, stock: number, expiry?: string, lot = id): StockBatch => ({ id, stock, expiry, lot, name: 'Drug', code: 'D1' });

describe('stock', () => {
  it('counts a batch usable through its expiry day and expired from the next', () => {
    expect(isExpired({ expiry: '2026-11-27' }, at)).toBe(false);
    expect(isExpired({ expiry: '2026-11-26' }, at)).toBe(true);
    expect(isExpired({}, at)).toBe(false);
  });

  it('allocates first-expiry-first-out across usable batches, undated ones last', () => {
    const batches = [b('none', 10), b('late', 5, '2027-06-01'), b('early', 2, '2027-01-01'), b('old', 50, '2026-01-01')];
    expect(allocate(batches, 8, at, 'Drug')).toEqual({
      ok: true,
      allocations: [
        { id: 'early', quantity: 2 },
        { id: 'late', quantity: 5 },
        { id: 'none', quantity: 1 },
      ],
    });
  });

  it('refuses when only expired units are left, naming the lots', () => {
    const v = allocate([b('old', 50, '2026-01-01', 'L-OLD'), b('empty', 0, '2030-01-01')], 1, at, 'Drug');
    expect(v).toEqual({ ok: false, problem: 'expired', message: 'Drug: every batch in stock has expired by 2026-11-27; expired: lot L-OLD (50 units, expired 2026-01-01)' });
  });

  it('refuses out of stock and insufficient stock', () => {
    expect(allocate([b('a', 0, '2030-01-01')], 1, at, 'Drug')).toMatchObject({ ok: false, problem: 'out-of-stock' });
    expect(allocate([], 1, at, 'Drug')).toMatchObject({ ok: false, problem: 'out-of-stock' });
    const v = allocate([b('a', 2, '2030-01-01'), b('old', 9, '2020-01-01')], 5, at, 'Drug');
    expect(v).toMatchObject({ ok: false, problem: 'insufficient' });
    expect(!v.ok && v.message).toBe('Drug: 5 units needed but only 2 usable on hand; expired: lot old (9 units, expired 2020-01-01)');
  });

  it('names the drug by its stocked name, code and batches', () => {
    expect(itemLabel('D1', [b('a', 1), b('c', 1)])).toBe('Drug (code D1) [Medication/a lot a, Medication/c lot c]');
    expect(itemLabel('Fallback', [])).toBe('Fallback');
  });
});
