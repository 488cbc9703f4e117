import { canonicalJson } from '../canonical-json';
import { GENESIS_HASH, linkHash, verifyChain, verifyDocuments, type CurrentDocument, type StoredLink } from './ehr-chain';

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

describe('EHR chain against the stored documents', () => {
  const v1 = { resourceType: 'DocumentReference', id: 'doc', meta: { versionId: '1' }, status: 'current' };
  const v2 = { ...v1, meta: { versionId: '2' }, status: 'superseded' };
  const chain = chainOf([canonicalJson(v1), canonicalJson(v2)]);
  const doc = (over: Partial<CurrentDocument> = {}): CurrentDocument => ({ resourceType: 'DocumentReference', id: 'doc', versionId: 2, deleted: false, json: JSON.stringify(v2), ...over });
  const none = new Set<string>();

  it('accepts documents stored as the chain last recorded them (key order aside)', () => {
    expect(verifyDocuments(chain, [doc({ json: JSON.stringify({ status: 'superseded', meta: { versionId: '2' }, id: 'doc', resourceType: 'DocumentReference' }) })], none)).toBeUndefined();
  });
  it('finds stored content that differs from what the chain recorded', () => {
    expect(verifyDocuments(chain, [doc({ json: JSON.stringify({ ...v2, status: 'entered-in-error' }) })], none)).toEqual({ brokenAt: 'r2', reason: expect.stringMatching(/does not match the hash/) });
    expect(verifyDocuments(chain, [doc({ versionId: 1, json: JSON.stringify(v1) })], none)?.reason).toMatch(/version 1, the chain's last record of it is version 2/);
    expect(verifyDocuments(chain, [doc({ integrityProblem: 'it must be stored encrypted but holds plaintext' })], none)?.reason).toMatch(/integrity check: it must be stored encrypted/);
  });
  it('finds a document missing from the chain, and a chained one removed from the store', () => {
    expect(verifyDocuments([], [doc()], none)).toEqual({ brokenAt: 'DocumentReference/doc', reason: expect.stringMatching(/no record in the chain/) });
    expect(verifyDocuments(chain, [], none)).toEqual({ brokenAt: 'r2', reason: expect.stringMatching(/removed/) });
    expect(verifyDocuments(chain, [], new Set(['DocumentReference/doc']))).toBeUndefined(); // moved to another patient
  });
});
