import { randomUUID } from 'node:crypto';

/**
 * A new server-assigned id: a UUID version 7 (RFC 9562), its first 48 bits the current time in
 * milliseconds, the rest random. Ids made one after another sort together, so the primary keys and
 * the search index's `(resource_type, resource_id, ...)` entries of new rows land on the same few
 * B-tree pages instead of a random page each (a random UUID touches a page anywhere in an index
 * that grows with every write). Still 74 random bits: ids are not guessable from one another.
 */
export function newResourceId(now = Date.now()): string {
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx, V the RFC variant
  const time = now.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}
