import { Injectable } from '@nestjs/common';
import type { Task } from '@medplum/fhirtypes';
import type { AuthContext } from '../../auth/auth.types';
import { AccessPolicy } from '../../auth/access/access-policy';
import { badRequest, forbidden } from '../../fhir/operation-outcome';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import { InventoryRepository, type InventoryRow } from './inventory.repository';
import { reorderTaskId } from './reorder-task';
import { isExpired } from './stock';

export interface StockItem {
  medication: string;
  name: string | null;
  code: string | null;
  lot: string | null;
  stock: number;
  reorderThreshold: number | null;
  expiry: string | null;
  expired: boolean;
  reorderAlert: boolean;
}

export interface StockTotal {
  code: string | null;
  name: string | null;
  usable: number;
  expired: number;
  reorderAlert: boolean;
}

export interface ReorderItem extends StockItem {
  task?: { reference: string; status: string };
}

const MAX = 1000;

/** The pharmacists' read-only views of the inventory (stocked Medication batches). */
@Injectable()
export class PharmacyService {
  constructor(
    private readonly inventory: InventoryRepository,
    private readonly policy: AccessPolicy,
    private readonly store: ResourceStore,
  ) {}

  async stock(auth: AuthContext | undefined, query: { code?: unknown; _count?: unknown }): Promise<{ count: number; items: StockItem[]; totals: StockTotal[] }> {
    this.requireStaff(auth);
    const code = optionalString(query.code, 'code');
    const rows = await this.inventory.list({ code, limit: parseCount(query._count) });
    const items = rows.map((r) => view(r, new Date()));
    const totals = new Map<string, StockTotal>();
    for (const i of items) {
      const key = i.code ?? `Medication/${i.medication}`;
      const t = totals.get(key) ?? { code: i.code, name: i.name, usable: 0, expired: 0, reorderAlert: false };
      if (i.expired) t.expired += i.stock;
      else t.usable += i.stock;
      t.reorderAlert ||= i.reorderAlert;
      totals.set(key, t);
    }
    return { count: items.length, items, totals: [...totals.values()] };
  }

  async reorder(auth: AuthContext | undefined, query: { _count?: unknown }): Promise<{ count: number; items: ReorderItem[] }> {
    this.requireStaff(auth);
    const rows = await this.inventory.list({ reorder: true, limit: parseCount(query._count) });
    const items: ReorderItem[] = rows.map((r) => view(r, new Date()));
    if (items.length && this.policy.allows(auth, 'Task', 'r')) {
      const tasks = await this.store.readCurrentMany(items.map((i) => ({ resourceType: 'Task', id: reorderTaskId(i.medication.slice('Medication/'.length)) })));
      for (const item of items) {
        const id = reorderTaskId(item.medication.slice('Medication/'.length));
        const found = tasks.get(`Task/${id}`);
        if (found && !found.deleted && found.json) item.task = { reference: `Task/${id}`, status: (JSON.parse(found.json) as Task).status };
      }
    }
    return { count: items.length, items };
  }

  /** Staff who may search Medication; patient-context tokens have no business with the stock room. */
  private requireStaff(auth: AuthContext | undefined): void {
    this.policy.require(auth, 'Medication', 's');
    if (this.policy.compartment(auth) !== undefined) throw forbidden('The pharmacy views are for staff, not patient-context tokens');
  }
}

function view(r: InventoryRow, now: Date): StockItem {
  const expiry = r.expiry_date ?? null;
  return {
    medication: `Medication/${r.id}`,
    name: r.medication,
    code: r.medication_code,
    lot: r.lot_number,
    stock: Number(r.stock_level ?? 0),
    reorderThreshold: r.reorder_threshold,
    expiry,
    expired: isExpired({ expiry: expiry ?? undefined }, now),
    reorderAlert: !!r.reorder_alert,
  };
}

function optionalString(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !v || v.length > 64) throw badRequest(`${name} must be one non-empty value of at most 64 characters`);
  return v;
}

function parseCount(v: unknown): number {
  if (v === undefined) return 100;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX)) throw badRequest(`_count must be a whole number from 1 to ${MAX}`);
  return n;
}
