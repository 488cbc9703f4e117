import { randomUUID } from 'node:crypto';

/**
 * A new server-assigned id: a UUID version 7 (RFC 9562), its first 48 bits the current time in
 * milliseconds, the rest random. Ids made one after another sort together, so new rows' entries in
 * the indexes that begin with type and id (`fhir_resource`'s primary key, `fhir_patient_resource_lookup`,
 * the search tables' `*_res` indexes) land on the same few B-tree pages instead of a random page
 * each (a random UUID touches a page anywhere in an index that grows with every write). Still 74 random bits: ids are not guessable from one another. An id
 * tells when its resource was created (to the millisecond), as its first version's `meta.lastUpdated`
 * and its history already do to whoever may read it.
 */
export function newResourceId(now = Date.now()): string {
  if (!Number.isSafeInteger(now) || now < 0 || now >= 2 ** 48) throw new RangeError(`not a time for a UUID version 7: ${now}`);
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx, V the RFC variant
  const time = now.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}
