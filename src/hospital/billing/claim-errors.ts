import type { Claim, ClaimItem, Encounter } from '@medplum/fhirtypes';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import type { ClaimErrorReason } from '../../fhir/projection/mappers/claim.mapper';

/** The built-in rule set's name and version (registered in ai_models as billing-error-rules-1.0.0; a verdict names the active version; the plugin: billing-error.plugin.ts). */
export const BILLING_RULES_VERSION = 'billing-error-rules 1.0.0';

/**
 * What the checks know besides the claim: the encounters its items reference (null: no such
 * encounter), and the patient's other active claims.
 */
export interface ClaimCheckContext {
  encounters: ReadonlyMap<string, Encounter | null>;
  otherClaims: readonly Claim[];
}

const CENT = 0.005;
const money = (n: number) => n.toFixed(2);

/** The date an item was served: its servicedDate, servicedPeriod.start, else the claim's billablePeriod.start (YYYY-MM-DD). */
export function serviceDate(claim: Claim, item: ClaimItem): string | undefined {
  return (item.servicedDate ?? item.servicedPeriod?.start ?? claim.billablePeriod?.start)?.slice(0, 10);
}

/** quantity × unitPrice × factor, when the item has a unit price. */
function expectedNet(item: ClaimItem): number | undefined {
  if (item.unitPrice?.value === undefined) return undefined;
  return (item.quantity?.value ?? 1) * item.unitPrice.value * (item.factor ?? 1);
}

/** What the item charges: its net, else quantity × unit price. */
export function itemAmount(item: ClaimItem): number | undefined {
  return item.net?.value ?? expectedNet(item);
}

/** The currency the item charges in (its net's, else its unit price's); undefined when not named. */
function itemCurrency(item: ClaimItem): string | undefined {
  return item.net?.value !== undefined ? (item.net.currency ?? item.unitPrice?.currency) : item.unitPrice?.currency;
}

/** Amounts are comparable unless both name a currency and the currencies differ (an unnamed one is the claim's). */
const sameCurrency = (a: string | undefined, b: string | undefined) => !a || !b || a === b;
const inCurrency = (amount: number, currency: string | undefined) => `${money(amount)}${currency ? ` ${currency}` : ''}`;

const codeKey = (item: ClaimItem) =>
  (item.productOrService?.coding ?? [])
    .filter((c) => c.code)
    .map((c) => `${c.system ?? ''}|${c.code}`)
    .sort()[0] ?? (item.productOrService?.text ? `text|${item.productOrService.text}` : undefined);

/**
 * Likely billing errors, as rules (no model): each finding names its kind, the item it is about
 * and why. Amounts are compared in one currency only: two that name different currencies never add
 * up nor match (an amount without a currency is taken as in the claim's).
 * - `no-encounter`: no item of the claim references an encounter (an item without one is charged
 *   under the encounters the claim's other items reference).
 * - `encounter-not-found`: an item references an encounter that does not exist.
 * - `encounter-other-patient`: the encounter is another patient's.
 * - `outside-encounter-period`: the item's service date falls outside its encounters' periods (by
 *   calendar day; an open period runs to today).
 * - `duplicate`: the claim is active and another active claim of the same patient has an item with
 *   the same code, service date and amount.
 * - `item-net-mismatch`: an item's net is not quantity × unitPrice × factor.
 * - `total-mismatch`: the claim's total is not the sum of its items' amounts.
 */
export function detectClaimErrors(claim: Claim, ctx: ClaimCheckContext, today: string = new Date().toISOString().slice(0, 10)): ClaimErrorReason[] {
  const reasons: ClaimErrorReason[] = [];
  const patientId = localRefId(claim.patient, 'Patient');
  const items = claim.item ?? [];
  // An item without its own encounter is charged under the claim's encounters (as Synthea and
  // most billing systems write claims: the encounter on the first line).
  const claimRefs = items.flatMap((i) => i.encounter ?? []);
  if (items.length && !claimRefs.length) {
    reasons.push({ code: 'no-encounter', detail: 'No item of the claim references an encounter' });
  }
  const checked = new Set<string>();
  const usable = new Map<string, Encounter>();
  for (const item of items) {
    for (const ref of item.encounter ?? []) {
      const key = ref.reference ?? '';
      if (checked.has(key)) continue;
      checked.add(key);
      const seq = item.sequence;
      const id = localRefId(ref, 'Encounter');
      const encounter = id ? ctx.encounters.get(id) : null;
      if (!id || !encounter) {
        reasons.push({ code: 'encounter-not-found', item: seq, detail: `Item ${seq} references ${ref.reference ?? 'an encounter'}, which does not exist on this server` });
        continue;
      }
      const owner = localRefId(encounter.subject, 'Patient');
      if (owner !== patientId) {
        reasons.push({ code: 'encounter-other-patient', item: seq, detail: `Item ${seq} references Encounter/${id} of ${owner ? `Patient/${owner}` : 'no patient'}, not the claim's Patient/${patientId}` });
        continue;
      }
      usable.set(key, encounter);
    }
  }
  for (const item of items) {
    const seq = item.sequence;
    const date = serviceDate(claim, item);
    const own = (item.encounter ?? []).map((r) => usable.get(r.reference ?? '')).filter((e): e is Encounter => !!e);
    const candidates = item.encounter?.length ? own : [...usable.values()];
    if (date && candidates.length) {
      const periods = candidates.map((e) => {
        const start = e.period?.start?.slice(0, 10);
        return { id: e.id, start, end: e.period?.end?.slice(0, 10) ?? (start ? today : undefined), open: !e.period?.end };
      });
      const within = periods.some((p) => !p.start || !p.end || (date >= p.start && date <= p.end));
      if (!within) {
        const p = periods[0];
        reasons.push({ code: 'outside-encounter-period', item: seq, detail: `Item ${seq} was served on ${date}, outside Encounter/${p.id} (${p.start} to ${p.open ? 'ongoing' : p.end})` });
      }
    }
    const expected = expectedNet(item);
    if (item.net?.value !== undefined && expected !== undefined && !sameCurrency(item.net.currency, item.unitPrice?.currency)) {
      reasons.push({ code: 'item-net-mismatch', item: seq, detail: `Item ${seq} nets ${inCurrency(item.net.value, item.net.currency)} but its unit price is in ${item.unitPrice?.currency}` });
    } else if (item.net?.value !== undefined && expected !== undefined && Math.abs(item.net.value - expected) > CENT) {
      reasons.push({ code: 'item-net-mismatch', item: seq, detail: `Item ${seq} nets ${money(item.net.value)} but quantity × unit price × factor is ${money(expected)}` });
    }
    const key = codeKey(item);
    const amount = itemAmount(item);
    if (claim.status === 'active' && key && date && amount !== undefined) {
      for (const other of ctx.otherClaims) {
        if (other.id === claim.id || other.status !== 'active' || localRefId(other.patient, 'Patient') !== patientId) continue;
        const twin = (other.item ?? []).find(
          (o) => codeKey(o) === key && serviceDate(other, o) === date && Math.abs((itemAmount(o) ?? NaN) - amount) <= CENT && sameCurrency(itemCurrency(o), itemCurrency(item)),
        );
        if (twin) {
          reasons.push({ code: 'duplicate', item: seq, detail: `Item ${seq} (${key.replace(/^\|/, '')}, ${date}, ${money(amount)}) duplicates item ${twin.sequence} of Claim/${other.id}` });
          break;
        }
      }
    }
  }
  const amounts = items.map(itemAmount);
  // Amounts in different currencies do not add up: a total over them cannot be their sum.
  const currencies = [...new Set([claim.total?.currency, ...items.map(itemCurrency)].filter((c): c is string => !!c))];
  if (claim.total?.value !== undefined && items.length && currencies.length > 1) {
    reasons.push({ code: 'total-mismatch', detail: `The total ${inCurrency(claim.total.value, claim.total.currency)} cannot be the sum of the items: amounts are in ${currencies.join(' and ')}` });
  } else if (claim.total?.value !== undefined && amounts.every((a) => a !== undefined) && items.length) {
    const sum = (amounts as number[]).reduce((a, b) => a + b, 0);
    if (Math.abs(sum - claim.total.value) > CENT) {
      reasons.push({ code: 'total-mismatch', detail: `The total ${money(claim.total.value)} is not the sum of the items, ${money(sum)}` });
    }
  }
  return reasons;
}
