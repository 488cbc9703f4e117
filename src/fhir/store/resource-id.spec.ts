import { newResourceId } from './resource-id';

describe('newResourceId', () => {
  it('is a version 7 UUID with the RFC variant, its time in the first 48 bits', () => {
    const at = Date.UTC(2026, 10, 27, 14, 30, 0, 123);
    const id = newResourceId(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at);
  });

  it('sorts ids made later after ids made earlier, and never repeats', () => {
    const earlier = Array.from({ length: 1000 }, () => newResourceId(1_800_000_000_000));
    const later = newResourceId(1_800_000_000_001);
    expect(new Set(earlier).size).toBe(1000);
    for (const id of earlier) expect(id < later).toBe(true);
  });

  it('refuses a time that does not fit 48 bits', () => {
    expect(() => newResourceId(Number.NaN)).toThrow(RangeError);
    expect(() => newResourceId(-1)).toThrow(RangeError);
    expect(() => newResourceId(2 ** 48)).toThrow(RangeError);
  });

  it('is a valid FHIR id', () => {
    expect(newResourceId()).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
  });
});
