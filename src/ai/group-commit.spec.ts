import type { Tx, TxContext } from '../database/database.service';
import { GroupCommit } from './group-commit';

/** A fake transaction runner: records each transaction's writes; commits them only if fn resolves. */
function fakeDb(failCommitWhen: (writes: string[]) => boolean = () => false) {
  const committed: string[][] = [];
  let transactions = 0;
  const gates: Array<() => void> = [];
  const run = async <T>(_ctx: TxContext, fn: (tx: Tx) => Promise<T>): Promise<T> => {
    transactions++;
    const writes: string[] = [];
    const tx: Tx = { query: async (sql: string) => (writes.push(sql), []) as never };
    const result = await fn(tx);
    // Commit takes a while: later submissions queue behind it.
    await new Promise<void>((r) => gates.push(r));
    if (failCommitWhen(writes)) throw new Error('commit failed');
    committed.push(writes);
    return result;
  };
  const release = async () => {
    for (let i = 0; i < 50 && gates.length === 0; i++) await new Promise((r) => setImmediate(r));
    gates.shift()?.();
  };
  return { run, committed, transactions: () => transactions, release };
}

const AI = { actor: 'system:ai:m1' };
const write = (name: string) => async (tx: Tx) => (await tx.query(name), name);

describe('GroupCommit', () => {
  it('runs a unit at once when nothing is committing, then groups the units that waited', async () => {
    const db = fakeDb();
    const g = new GroupCommit(db.run, 16);
    const a = g.submit(AI, write('a'));
    const b = g.submit(AI, write('b'));
    const c = g.submit(AI, write('c'));
    await db.release();
    await db.release();
    await expect(Promise.all([a, b, c])).resolves.toEqual(['a', 'b', 'c']);
    expect(db.committed).toEqual([['a'], ['b', 'c']]);
    expect(db.transactions()).toBe(2);
  });

  it('caps a transaction at maxUnits', async () => {
    const db = fakeDb();
    const g = new GroupCommit(db.run, 2);
    const all = ['a', 'b', 'c', 'd'].map((n) => g.submit(AI, write(n)));
    for (let i = 0; i < 3; i++) await db.release();
    await expect(Promise.all(all)).resolves.toEqual(['a', 'b', 'c', 'd']);
    expect(db.committed).toEqual([['a'], ['b', 'c'], ['d']]);
  });

  it('keeps actors apart', async () => {
    const db = fakeDb();
    const g = new GroupCommit(db.run, 16);
    const a = g.submit(AI, write('a'));
    const b = g.submit({ actor: 'system:ai:m2' }, write('b'));
    await db.release();
    await db.release();
    await expect(Promise.all([a, b])).resolves.toEqual(['a', 'b']);
    expect(db.committed).toEqual([['a'], ['b']]);
  });

  it('gives a failing unit its own failure: the shared transaction is rolled back and the others run alone', async () => {
    const db = fakeDb();
    const g = new GroupCommit(db.run, 16);
    const first = g.submit(AI, write('first'));
    const ok = g.submit(AI, write('ok'));
    const bad = g
      .submit(AI, async () => {
        throw new Error('412: the trigger changed');
      })
      .catch((e: Error) => e);
    const ok2 = g.submit(AI, write('ok2'));
    await db.release(); // first
    await db.release(); // ok alone
    await db.release(); // ok2 alone
    await expect(first).resolves.toBe('first');
    await expect(ok).resolves.toBe('ok');
    expect(await bad).toEqual(new Error('412: the trigger changed'));
    await expect(ok2).resolves.toBe('ok2');
    // The shared attempt [ok, (bad)] never committed; nothing was written twice.
    expect(db.committed).toEqual([['first'], ['ok'], ['ok2']]);
  });

  it('falls back to one transaction per unit when the shared commit fails', async () => {
    const db = fakeDb((w) => w.length > 1);
    const fallbacks: number[] = [];
    const g = new GroupCommit(db.run, 16, 50, (_err, units) => fallbacks.push(units));
    const first = g.submit(AI, write('first'));
    const b = g.submit(AI, write('b'));
    const c = g.submit(AI, write('c'));
    for (let i = 0; i < 4; i++) await db.release();
    await expect(Promise.all([first, b, c])).resolves.toEqual(['first', 'b', 'c']);
    expect(db.committed).toEqual([['first'], ['b'], ['c']]);
    expect(fallbacks).toEqual([2]);
  });

  it('with maxUnits 1 runs each unit in its own transaction directly', async () => {
    const db = fakeDb();
    const g = new GroupCommit(db.run, 1);
    const a = g.submit(AI, write('a'));
    const b = g.submit(AI, write('b'));
    await db.release();
    await db.release();
    await expect(Promise.all([a, b])).resolves.toEqual(['a', 'b']);
    expect(db.committed).toEqual([['a'], ['b']]);
  });
});

describe('GroupCommit behind a blocked transaction', () => {
  it('starts another transaction for units that waited maxWaitMs', async () => {
    const db = fakeDb();
    const g = new GroupCommit(db.run, 16, 20);
    const blocked = g.submit(AI, write('blocked')); // its commit is never released until the end
    const b = g.submit(AI, write('b'));
    const c = g.submit(AI, write('c'));
    await new Promise((r) => setTimeout(r, 40));
    // The second transaction's commit is the second gate; release it first.
    for (let i = 0; i < 50 && db.transactions() < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(db.transactions()).toBe(2);
    await db.release(); // releases the oldest gate: 'blocked'
    await db.release(); // then [b, c]
    await expect(Promise.all([blocked, b, c])).resolves.toEqual(['blocked', 'b', 'c']);
    expect(db.committed).toEqual([['blocked'], ['b', 'c']]);
  });
});
