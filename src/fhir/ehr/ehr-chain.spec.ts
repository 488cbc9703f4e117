import { GENESIS_HASH, linkHash, verifyChain, type StoredLink } from './ehr-chain';

function chainOf(contents: Array<string | null>): StoredLink[] {
  let previous = GENESIS_HASH;
  return contents.map((content, i) => {
    const link = { seq: i + 1, recordType: 'DocumentReference', resourceId: 'doc', resourceVersion: i + 1, content, previousHash: previous };
    const hash = linkHash(link);
    previous = hash;
    return { ...link, id: `r${i + 1}`, hash };
  });
}

describe('EHR chain', () => {
  it('accepts an intact chain, deletions included', () => {
    expect(verifyChain(chainOf(['{"a":1}', '{"a":2}', null]))).toEqual({ valid: true, records: 3 });
    expect(verifyChain([])).toEqual({ valid: true, records: 0 });
  });

  it('finds a changed record', () => {
    const chain = chainOf(['{"a":1}', '{"a":2}', '{"a":3}']);
    chain[1] = { ...chain[1], content: '{"a":20}' };
    expect(verifyChain(chain)).toMatchObject({ valid: false, brokenAt: 'r2', reason: expect.stringMatching(/changed/) });
  });

  it('finds a removed record', () => {
    const chain = chainOf(['{"a":1}', '{"a":2}', '{"a":3}']);
    expect(verifyChain([chain[0], chain[2]])).toMatchObject({ valid: false, brokenAt: 'r3' });
  });

  it('finds reordered records even when sequence numbers are rewritten to match', () => {
    const chain = chainOf(['{"a":1}', '{"a":2}', '{"a":3}']);
    const swapped = [chain[0], { ...chain[2], seq: 2 }, { ...chain[1], seq: 3 }];
    expect(verifyChain(swapped)).toMatchObject({ valid: false, brokenAt: 'r3', reason: expect.stringMatching(/link/) });
  });

  it('binds the hash to the record metadata, not only the content', () => {
    const chain = chainOf(['{"a":1}']);
    expect(verifyChain([{ ...chain[0], resourceId: 'other' }])).toMatchObject({ valid: false, brokenAt: 'r1' });
  });
});
