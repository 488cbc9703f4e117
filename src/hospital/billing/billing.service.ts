import { Injectable } from '@nestjs/common';
import type { Claim, Condition, Encounter, Practitioner, Procedure, Reference } from '@medplum/fhirtypes';
import type { AuthContext } from '../../auth/auth.types';
import { AccessPolicy } from '../../auth/access/access-policy';
import { DatabaseService, type TxContext } from '../../database/database.service';
import { OperationOutcomeError, badRequest, notFound } from '../../fhir/operation-outcome';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import { SearchService } from '../../fhir/search/search.service';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import { ResourceWriteService, type WriteOutcome } from '../../fhir/write/resource-write.service';
import { buildClaimFromEncounter } from './claim-builder';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const REF = /^(Practitioner|PractitionerRole|Organization)\/[A-Za-z0-9\-.]{1,64}$/;

export interface BillingView {
  claim: string;
  patient: string;
  encounter: string | null;
  amount: number | null;
  status: string | null;
  errorDetected: boolean;
  reasons: Array<{ code: string; detail: string; item?: number }>;
}

export interface FromEncounterBody {
  unitPrices?: Record<string, number>;
  provider?: string;
}

/** Claims built from encounters, through the one write path (which runs the billing-error check). */
@Injectable()
export class BillingService {
  constructor(
    private readonly db: DatabaseService,
    private readonly store: ResourceStore,
    private readonly search: SearchService,
    private readonly writer: ResourceWriteService,
    private readonly policy: AccessPolicy,
  ) {}

  async claimFromEncounter(auth: AuthContext | undefined, ctx: TxContext, encounterId: string, body: unknown): Promise<WriteOutcome> {
    this.policy.require(auth, 'Encounter', 'r');
    this.policy.requireWrite(auth, 'Claim', 'c');
    if (!FHIR_ID.test(encounterId)) throw badRequest(`"${encounterId}" is not a valid Encounter id`);
    const options = parseBody(body);
    const found = (await this.store.readCurrentMany([{ resourceType: 'Encounter', id: encounterId }])).get(`Encounter/${encounterId}`);
    if (!found || found.deleted || !found.json) throw notFound(`Encounter/${encounterId} is not known`);
    this.policy.requireVisible(auth, { resourceType: 'Encounter', id: encounterId, patientId: found.patientId, json: found.json });
    const encounter = JSON.parse(found.json) as Encounter;
    const patientId = localRefId(encounter.subject, 'Patient');
    const procedures = patientId ? (await this.related<Procedure>('Procedure', `encounter=Encounter/${encounterId}`)).filter((p) => !['entered-in-error', 'not-done'].includes(p.status)) : [];
    const conditions = patientId ? await this.related<Condition>('Condition', `encounter=Encounter/${encounterId}`) : [];
    const coverage = patientId ? (await this.search.matchIds(this.db, 'Coverage', `beneficiary=Patient/${patientId}&status=active`, 1))[0] : undefined;
    const claim = buildClaimFromEncounter({
      encounter,
      procedures,
      conditions: conditions.filter((c) => c.verificationStatus?.coding?.[0]?.code !== 'entered-in-error'),
      coverageId: coverage,
      unitPrices: options.unitPrices ?? {},
      provider: options.provider ? ({ reference: options.provider } as Reference<Practitioner>) : undefined,
      now: new Date(),
    });
    if ('error' in claim) throw OperationOutcomeError.of(422, 'business-rule', claim.error);
    return this.writer.create(ctx, claim as Claim, 'Claim');
  }

  /** Billing rows, newest first: all, or only those the billing-error check flagged. */
  async claims(auth: AuthContext | undefined, query: { flagged?: unknown; _count?: unknown }): Promise<{ count: number; items: BillingView[] }> {
    this.policy.require(auth, 'Claim', 's');
    const compartment = this.policy.compartment(auth);
    if (query.flagged !== undefined && query.flagged !== 'true' && query.flagged !== 'false') throw badRequest('flagged must be true or false');
    const count = query._count === undefined ? 100 : Number(query._count);
    if (!Number.isInteger(count) || count < 1 || count > 1000) throw badRequest('_count must be a whole number from 1 to 1000');
    const where = ['true'];
    const params: unknown[] = [];
    if (query.flagged === 'true') where.push('ai_error_detected');
    if (query.flagged === 'false') where.push('NOT coalesce(ai_error_detected, false)');
    if (compartment) {
      where.push('patient_id = ?');
      params.push(compartment);
    }
    const rows = await this.db.query<{ id: string; patient_id: string; amount: string | null; status: string | null; ai_error_detected: boolean | null; ai_error_reasons: unknown; encounter_id: string | null }>(
      `SELECT id, patient_id, amount, status, ai_error_detected, ai_error_reasons, encounter_id FROM billing WHERE ${where.join(' AND ')}
       ORDER BY created_at DESC NULLS LAST, id LIMIT ?`,
      [...params, count],
    );
    const items = rows.map((r) => ({
      claim: `Claim/${r.id}`,
      patient: `Patient/${r.patient_id}`,
      encounter: r.encounter_id ? `Encounter/${r.encounter_id}` : null,
      amount: r.amount === null ? null : Number(r.amount),
      status: r.status,
      errorDetected: !!r.ai_error_detected,
      reasons: (r.ai_error_reasons as BillingView['reasons']) ?? [],
    }));
    return { count: items.length, items };
  }

  private async related<T>(type: string, criteria: string): Promise<T[]> {
    const ids = await this.search.matchIds(this.db, type, criteria, 1000);
    const found = await this.store.readCurrentMany(ids.map((id) => ({ resourceType: type, id })));
    return ids.map((id) => found.get(`${type}/${id}`)).filter((v) => v && !v.deleted && v.json).map((v) => JSON.parse(v!.json as string) as T);
  }
}

function parseBody(body: unknown): FromEncounterBody {
  if (body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body) && !Object.keys(body).length)) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a JSON object: {"unitPrices": {"system|code": 120.5}, "provider": "Practitioner/id"}');
  const { unitPrices, provider, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) throw badRequest(`Unknown field(s) ${unknown.join(', ')}: expected unitPrices and provider`);
  if (unitPrices !== undefined) {
    if (!unitPrices || typeof unitPrices !== 'object' || Array.isArray(unitPrices)) throw badRequest('unitPrices must be an object of code → price');
    for (const [code, price] of Object.entries(unitPrices)) {
      if (typeof price !== 'number' || !Number.isFinite(price) || price < 0 || price >= 1e8) throw badRequest(`unitPrices["${code}"] must be a number from 0 to 99999999.99`);
    }
  }
  if (provider !== undefined && (typeof provider !== 'string' || !REF.test(provider))) {
    throw badRequest('provider must be a reference such as "Practitioner/id", "PractitionerRole/id" or "Organization/id"');
  }
  return { unitPrices: unitPrices as Record<string, number> | undefined, provider: provider as string | undefined };
}
