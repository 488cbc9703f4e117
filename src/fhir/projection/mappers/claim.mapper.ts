import type { Claim, Extension } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { compact, fromTimestamp, localRefId, num, patientRef, requireId, str, toTimestamp, truncate } from './mapper-utils';

/**
 * The billing-error check's verdict on a Claim, set by the server on every write
 * (src/hospital/billing): a complex extension with `detected` (boolean), `rules` (the rule set and
 * its version) and one `reason` per finding (`code`, `detail`, and the `item` sequence it is about).
 */
export const BILLING_CHECK_URL = 'https://fhir-ai-server.dev/StructureDefinition/billing-error-check';

export interface ClaimErrorReason {
  code: string;
  detail: string;
  item?: number;
}

export interface BillingCheck {
  detected: boolean;
  rules?: string;
  reasons: ClaimErrorReason[];
}

export function billingCheckExtension(check: BillingCheck): Extension {
  return {
    url: BILLING_CHECK_URL,
    extension: [
      { url: 'detected', valueBoolean: check.detected },
      ...(check.rules ? [{ url: 'rules', valueString: check.rules }] : []),
      ...check.reasons.map((r) => ({
        url: 'reason',
        extension: [
          { url: 'code', valueCode: r.code },
          { url: 'detail', valueString: r.detail },
          ...(r.item !== undefined ? [{ url: 'item', valuePositiveInt: r.item }] : []),
        ],
      })),
    ],
  };
}

/** The verdict recorded on a Claim, if any. */
export function billingCheckOf(claim: Claim): BillingCheck | undefined {
  const ext = claim.extension?.find((e) => e.url === BILLING_CHECK_URL);
  if (!ext) return undefined;
  const sub = ext.extension ?? [];
  const reasons = sub
    .filter((e) => e.url === 'reason')
    .map((r) => {
      const part = (url: string) => r.extension?.find((e) => e.url === url);
      const item = part('item')?.valuePositiveInt;
      return compact<ClaimErrorReason>({ code: part('code')?.valueCode ?? 'unknown', detail: part('detail')?.valueString ?? '', item });
    });
  const detected = sub.find((e) => e.url === 'detected')?.valueBoolean ?? reasons.length > 0;
  return compact<BillingCheck>({ detected, rules: sub.find((e) => e.url === 'rules')?.valueString, reasons });
}

/** The amount billed: the claim's total, else the sum of its items' net amounts (none when they are in different currencies, which do not add up). */
export function claimAmount(claim: Claim): number | undefined {
  if (typeof claim.total?.value === 'number') return claim.total.value;
  if (new Set((claim.item ?? []).map((i) => i.net?.currency).filter((c) => c)).size > 1) return undefined;
  const nets = (claim.item ?? []).map((i) => i.net?.value).filter((v): v is number => typeof v === 'number');
  return nets.length ? Math.round(nets.reduce((a, b) => a + b, 0) * 100) / 100 : undefined;
}

/** Claim → billing (only when its patient is a local Patient). */
export const claimMapper: ResourceMapper<Claim> = {
  resourceType: 'Claim',
  tables: ['billing'],

  toRows(claim: Claim): ProjectionRow[] {
    const patientId = localRefId(claim.patient, 'Patient');
    if (!patientId) return [];
    const check = billingCheckOf(claim);
    const encounterId = (claim.item ?? []).flatMap((i) => i.encounter ?? []).map((r) => localRefId(r, 'Encounter')).find((id) => id);
    const amount = claimAmount(claim);
    return [
      {
        table: 'billing',
        values: {
          patient_id: patientId,
          id: requireId(claim),
          // decimal(10,2): amounts beyond it are not representable; the resource keeps them.
          amount: amount !== undefined && Math.abs(amount) < 1e8 ? amount.toFixed(2) : null,
          status: truncate(claim.status, 50),
          ai_error_detected: check?.detected ?? false,
          ai_error_reasons: check ? check.reasons : null,
          encounter_id: encounterId ?? null,
          created_at: toTimestamp(claim.created),
        },
      },
    ];
  },

  toResource(row: Record<string, unknown>): Claim {
    const amount = num(row.amount);
    const reasons = (row.ai_error_reasons as ClaimErrorReason[] | null) ?? [];
    return compact<Claim>({
      resourceType: 'Claim',
      id: String(row.id),
      extension: row.ai_error_reasons !== null && row.ai_error_reasons !== undefined ? [billingCheckExtension({ detected: !!row.ai_error_detected, reasons })] : undefined,
      status: (str(row.status) ?? 'active') as Claim['status'],
      // Required elements the table does not keep.
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'institutional' }] },
      use: 'claim',
      patient: patientRef(row),
      created: fromTimestamp(row.created_at) ?? new Date(0).toISOString(),
      provider: { display: 'unknown' },
      priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
      insurance: [{ sequence: 1, focal: true, coverage: { display: 'unknown' } }],
      item: row.encounter_id ? [{ sequence: 1, productOrService: { text: 'unknown' }, encounter: [{ reference: `Encounter/${String(row.encounter_id)}` }] }] : undefined,
      total: amount !== undefined ? { value: amount } : undefined,
    });
  },
};
