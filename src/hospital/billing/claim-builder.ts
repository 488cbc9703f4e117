import type { Claim, ClaimItem, CodeableConcept, Condition, Encounter, Organization, Practitioner, PractitionerRole, Procedure, Reference } from '@medplum/fhirtypes';

type ProviderRef = Reference<Practitioner | PractitionerRole | Organization>;

export interface ClaimBuildInput {
  encounter: Encounter;
  procedures: Procedure[];
  conditions: Condition[];
  /** The patient's active Coverage, if any (else the claim is marked self-pay). */
  coverageId?: string;
  /** Unit prices by `system|code` or bare code; items without a price carry none. */
  unitPrices: Record<string, number>;
  /** Who bills; else the encounter's serviceProvider, else its first participant. */
  provider?: ProviderRef;
  now: Date;
}

const INSTITUTIONAL_CLASSES = ['IMP', 'ACUTE', 'NONAC', 'EMER', 'SS', 'PRENC'];

function priceOf(concept: CodeableConcept | undefined, prices: Record<string, number>): number | undefined {
  for (const c of concept?.coding ?? []) {
    if (!c.code) continue;
    const p = prices[`${c.system ?? ''}|${c.code}`] ?? prices[c.code];
    if (p !== undefined) return p;
  }
  return undefined;
}

const day = (s: string | undefined) => s?.slice(0, 10);

/**
 * A Claim built from an encounter, pure: one item per procedure performed in it (code, date,
 * unit price when known), or one item for the encounter itself (its type, else its class) when it
 * had none; its conditions as diagnoses; the billable period is the encounter's. The total is the
 * sum of the items when all are priced. Returns a reason instead when the encounter names no
 * patient or no one to bill as provider.
 */
export function buildClaimFromEncounter(input: ClaimBuildInput): Claim | { error: string } {
  const { encounter: e, unitPrices } = input;
  if (!e.subject?.reference?.startsWith('Patient/')) return { error: `Encounter/${e.id} names no Patient to bill` };
  const provider: ProviderRef | undefined =
    input.provider ??
    e.serviceProvider ??
    (e.participant?.map((p) => p.individual).find((r) => !!r?.reference && /^(Practitioner|PractitionerRole)\//.test(r.reference)) as ProviderRef | undefined);
  if (!provider) return { error: `Encounter/${e.id} has no serviceProvider or practitioner participant; give "provider" in the request` };
  const encounterRef = [{ reference: `Encounter/${e.id}` }];
  const fallbackDate = day(e.period?.start) ?? day(input.now.toISOString());
  const charges: Array<{ concept: CodeableConcept; date?: string }> = input.procedures.length
    ? input.procedures.map((p) => ({ concept: p.code ?? { text: 'procedure' }, date: day(p.performedDateTime ?? p.performedPeriod?.start) ?? fallbackDate }))
    : [{ concept: e.type?.[0] ?? { coding: [e.class] }, date: fallbackDate }];
  const items: ClaimItem[] = charges.map((c, i) => {
    const price = priceOf(c.concept, unitPrices);
    return {
      sequence: i + 1,
      productOrService: c.concept,
      ...(c.date ? { servicedDate: c.date } : {}),
      encounter: encounterRef,
      quantity: { value: 1 },
      ...(price !== undefined ? { unitPrice: { value: price }, net: { value: price } } : {}),
    };
  });
  const allPriced = items.every((i) => i.net);
  const total = Math.round(items.reduce((n, i) => n + (i.net?.value ?? 0), 0) * 100) / 100;
  const institutional = INSTITUTIONAL_CLASSES.includes(e.class?.code ?? '');
  return {
    resourceType: 'Claim',
    status: 'active',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: institutional ? 'institutional' : 'professional' }] },
    use: 'claim',
    patient: { reference: e.subject.reference },
    ...(e.period ? { billablePeriod: e.period } : {}),
    created: input.now.toISOString(),
    provider,
    priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
    ...(input.conditions.length ? { diagnosis: input.conditions.map((c, i) => ({ sequence: i + 1, diagnosisReference: { reference: `Condition/${c.id}` } })) } : {}),
    ...(input.procedures.length ? { procedure: input.procedures.map((p, i) => ({ sequence: i + 1, procedureReference: { reference: `Procedure/${p.id}` } })) } : {}),
    insurance: [{ sequence: 1, focal: true, coverage: input.coverageId ? { reference: `Coverage/${input.coverageId}` } : { display: 'Self-pay: no active Coverage on file' } }],
    item: items,
    ...(allPriced ? { total: { value: total } } : {}),
  };
}
