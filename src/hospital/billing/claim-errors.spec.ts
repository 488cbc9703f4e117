import type { Claim, ClaimItem, Encounter } from '@medplum/fhirtypes';
import { detectClaimErrors, type ClaimCheckContext } from './claim-errors';

const encounter = (id: string, patient: string, start: string, end?: string): Encounter => ({
  resourceType: 'Encounter',
  id,
  status: 'finished',
  class: { code: 'AMB' },
  subject: { reference: `Patient/${patient}` },
  period: { start, ...(end ? { end } : {}) },
});

const item = (sequence: number, code: string, date: string, net: number, enc: string | null = 'e1', extra: Partial<ClaimItem> = {}): ClaimItem => ({
  sequence,
  productOrService: { coding: [{ system: 'http://www.ama-assn.org/go/cpt', code }] },
  servicedDate: date,
  ...(enc ? { encounter: [{ reference: `Encounter/${enc}` }] } : {}),
  net: { value: net },
  ...extra,
});

const claim = (items: ClaimItem[], extra: Partial<Claim> = {}): Claim => ({
  resourceType: 'Claim',
  id: 'c1',
  status: 'active',
  type: { coding: [{ code: 'professional' }] },
  use: 'claim',
  patient: { reference: 'Patient/p1' },
  created: '2026-11-12',
  provider: { reference: 'Practitioner/d' },
  priority: { coding: [{ code: 'normal' }] },
  insurance: [{ sequence: 1, focal: true, coverage: { display: 'self' } }],
  item: items,
  ...extra,
});

const ctx = (others: Claim[] = []): ClaimCheckContext => ({
  encounters: new Map<string, Encounter | null>([
    ['e1', encounter('e1', 'p1', '2026-11-10T08:00:00Z', '2026-11-12T12:00:00Z')],
    ['e2', encounter('e2', 'p2', '2026-11-10T08:00:00Z', '2026-11-10T09:00:00Z')],
    ['open', encounter('open', 'p1', '2026-11-20T08:00:00Z')],
    ['gone', null],
  ]),
  otherClaims: others,
});
const codes = (c: Claim, context = ctx(), today = '2026-11-27') => detectClaimErrors(c, context, today).map((r) => r.code);

describe('detectClaimErrors', () => {
  it('finds nothing wrong with a clean claim', () => {
    expect(detectClaimErrors(claim([item(1, '99221', '2026-11-10', 300, 'e1', { quantity: { value: 2 }, unitPrice: { value: 150 } }), item(2, '36415', '2026-11-12', 25)], { total: { value: 325 } }), ctx())).toEqual([]);
  });

  it('flags a charge with no encounter, an unknown one, and another patient’s', () => {
    expect(detectClaimErrors(claim([item(1, 'A', '2026-11-10', 10, null)]), ctx())).toEqual([{ code: 'no-encounter', detail: 'No item of the claim references an encounter' }]);
    // A line without its own encounter is charged under the claim's other lines' encounters.
    expect(codes(claim([item(1, 'A', '2026-11-10', 10), item(2, 'B', '2026-11-11', 5, null)]))).toEqual([]);
    expect(detectClaimErrors(claim([item(1, 'A', '2026-11-10', 10), item(2, 'B', '2026-11-14', 5, null)]), ctx())).toEqual([
      { code: 'outside-encounter-period', item: 2, detail: 'Item 2 was served on 2026-11-14, outside Encounter/e1 (2026-11-10 to 2026-11-12)' },
    ]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 10, 'gone')]))).toEqual(['encounter-not-found']);
    expect(codes(claim([item(1, 'A', '2026-11-10', 10, 'unlisted')]))).toEqual(['encounter-not-found']);
    const other = detectClaimErrors(claim([item(1, 'A', '2026-11-10', 10, 'e2')]), ctx());
    expect(other).toEqual([{ code: 'encounter-other-patient', item: 1, detail: "Item 1 references Encounter/e2 of Patient/p2, not the claim's Patient/p1" }]);
  });

  it('flags a service date outside the encounter by calendar day; an open encounter runs to today', () => {
    expect(codes(claim([item(1, 'A', '2026-11-12', 10)]))).toEqual([]);
    expect(codes(claim([item(1, 'A', '2026-11-13', 10)]))).toEqual(['outside-encounter-period']);
    expect(codes(claim([item(1, 'A', '2026-11-09', 10)]))).toEqual(['outside-encounter-period']);
    expect(codes(claim([item(1, 'A', '2026-11-25', 10, 'open')]))).toEqual([]);
    expect(codes(claim([item(1, 'A', '2026-11-28', 10, 'open')]))).toEqual(['outside-encounter-period']);
    // Without an item date, the billable period's start is the service date.
    expect(codes(claim([{ ...item(1, 'A', 'x', 10), servicedDate: undefined }], { billablePeriod: { start: '2026-12-01' } }))).toEqual(['outside-encounter-period']);
  });

  it('flags a duplicate of another active claim of the patient: same code, date and amount', () => {
    const first = claim([item(1, 'A', '2026-11-10', 10)], { id: 'c0' });
    expect(detectClaimErrors(claim([item(1, 'A', '2026-11-10', 10)]), ctx([first]))).toEqual([
      { code: 'duplicate', item: 1, detail: 'Item 1 (http://www.ama-assn.org/go/cpt|A, 2026-11-10, 10.00) duplicates item 1 of Claim/c0' },
    ]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 11)]), ctx([first]))).toEqual([]);
    expect(codes(claim([item(1, 'A', '2026-11-11', 10)]), ctx([first]))).toEqual([]);
    expect(codes(claim([item(1, 'B', '2026-11-10', 10)]), ctx([first]))).toEqual([]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 10)]), ctx([{ ...first, status: 'cancelled' }]))).toEqual([]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 10)]), ctx([{ ...first, patient: { reference: 'Patient/p2' } }]))).toEqual([]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 10)], { status: 'cancelled' }), ctx([first]))).toEqual([]);
    // Itself (an update of the same claim) is no duplicate.
    expect(codes(claim([item(1, 'A', '2026-11-10', 10)]), ctx([{ ...first, id: 'c1' }]))).toEqual([]);
  });

  it('flags totals and item nets that do not add up, to the cent', () => {
    const r = detectClaimErrors(claim([item(1, 'A', '2026-11-10', 70, 'e1', { quantity: { value: 3 }, unitPrice: { value: 20 } }), item(2, 'B', '2026-11-10', 30)], { total: { value: 150 } }), ctx());
    expect(r).toEqual([
      { code: 'item-net-mismatch', item: 1, detail: 'Item 1 nets 70.00 but quantity × unit price × factor is 60.00' },
      { code: 'total-mismatch', detail: 'The total 150.00 is not the sum of the items, 100.00' },
    ]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 0.1), item(2, 'B', '2026-11-10', 0.2)], { total: { value: 0.3 } }))).toEqual([]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 10, 'e1', { quantity: { value: 2 }, unitPrice: { value: 10 }, factor: 0.5 })]))).toEqual([]);
  });

  it('never adds or matches amounts of different currencies', () => {
    const usd = (n: number) => ({ value: n, currency: 'USD' as const });
    const eur = (n: number) => ({ value: n, currency: 'EUR' as const });
    const mixed = detectClaimErrors(claim([item(1, 'A', '2026-11-10', 0, 'e1', { net: usd(100) }), item(2, 'B', '2026-11-10', 0, 'e1', { net: eur(50) })], { total: usd(150) }), ctx());
    expect(mixed).toEqual([{ code: 'total-mismatch', detail: 'The total 150.00 USD cannot be the sum of the items: amounts are in USD and EUR' }]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 0, 'e1', { net: eur(100) })], { total: eur(100) }))).toEqual([]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 100)], { total: usd(100) }))).toEqual([]); // an unnamed currency is the claim's
    expect(codes(claim([item(1, 'A', '2026-11-10', 0, 'e1', { quantity: { value: 1 }, unitPrice: usd(40), net: eur(40) })]))).toEqual(['item-net-mismatch']);
    const first = claim([item(1, 'A', '2026-11-10', 0, 'e1', { net: usd(10) })], { id: 'c0' });
    expect(codes(claim([item(1, 'A', '2026-11-10', 0, 'e1', { net: eur(10) })]), ctx([first]))).toEqual([]);
    expect(codes(claim([item(1, 'A', '2026-11-10', 0, 'e1', { net: usd(10) })]), ctx([first]))).toEqual(['duplicate']);
  });
});
