import { KeyRing } from './key-ring';

describe('KeyRing.decryptionKeys', () => {
  it('is one text[] literal indexed by key id, NULL where no key is configured, built once', () => {
    const ring = new KeyRing([
      { id: 3, secret: 'third-secret-0123456789abcdef0123' },
      { id: 1, secret: 'first-secret-0123456789abcdef01234' },
    ]);
    const literal = ring.decryptionKeys();
    expect(literal).toBe(`{"${ring.dataKey(1)}",NULL,"${ring.dataKey(3)}"}`);
    expect(ring.decryptionKeys()).toBe(literal);
    // The derived keys are base64: nothing in them needs escaping inside the literal.
    expect(ring.dataKey(1)).toMatch(/^[A-Za-z0-9+/=]+$/);
  });
});
