import type { Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { badRequest } from '../operation-outcome';
import { WriteRules, type WriteRule } from './write-rules';

const tx = {} as Tx;
const ctx = { flush: async () => undefined, hasPending: () => false };
const appointment = { resourceType: 'Appointment', id: 'a1', status: 'booked', participant: [] } as unknown as Resource;

describe('WriteRules', () => {
  it('applies the rules of a type in order, each seeing what the previous returned', async () => {
    const rules = new WriteRules();
    const seen: string[] = [];
    rules.add({ name: 'first', resourceTypes: ['Appointment'], beforeWrite: async (_tx, r) => ({ ...r, comment: 'moved' }) as Resource });
    rules.add({
      name: 'second',
      resourceTypes: ['Appointment'],
      beforeWrite: async (_tx, r) => {
        seen.push((r as { comment?: string }).comment ?? '');
      },
    });
    const out = await rules.apply(tx, appointment, ctx);
    expect(seen).toEqual(['moved']);
    expect((out as { comment?: string }).comment).toBe('moved');
    expect(rules.has('Appointment')).toBe(true);
    expect(rules.has('Patient')).toBe(false);
  });

  it('passes refusals through and adds a rule only once', async () => {
    const rules = new WriteRules();
    let calls = 0;
    const refuse: WriteRule = {
      name: 'refuse',
      resourceTypes: ['Appointment'],
      beforeWrite: async () => {
        calls++;
        throw badRequest('double-booked');
      },
    };
    rules.add(refuse);
    rules.add(refuse);
    await expect(rules.apply(tx, appointment, ctx)).rejects.toThrow('double-booked');
    expect(calls).toBe(1);
  });

  it('refuses a rule that changes the type or id', async () => {
    const rules = new WriteRules();
    rules.add({ name: 'bad', resourceTypes: ['Appointment'], beforeWrite: async (_tx, r) => ({ ...r, id: 'other' }) as Resource });
    await expect(rules.apply(tx, appointment, ctx)).rejects.toThrow(/may not change the type or id/);
  });
});
