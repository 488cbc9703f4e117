/**
 * Splits items into chunks of at most `size`, in order, such that no key repeats within a chunk:
 * a multi-row INSERT ... ON CONFLICT DO UPDATE may touch a row only once per statement.
 */
export function uniqueChunks<T>(items: T[], keyOf: (item: T) => string, size = 500): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let seen = new Set<string>();
  for (const item of items) {
    const key = keyOf(item);
    if (current.length >= size || seen.has(key)) {
      out.push(current);
      current = [];
      seen = new Set();
    }
    current.push(item);
    seen.add(key);
  }
  if (current.length) out.push(current);
  return out;
}
