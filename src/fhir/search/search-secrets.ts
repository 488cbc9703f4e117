import { searchParam } from './search-parameters';

/**
 * Whether an index code of a resource type holds a secret field (contact details, national
 * identifiers, the identifier of a referenced person) that an encrypted type keeps out of clear
 * text. Only meaningful for encrypted types. Pure.
 */
export function isSecretParam(resourceType: string, code: string): boolean {
  if (code.endsWith(':identifier')) return true;
  const base = code.replace(/#\d+$/, '');
  return searchParam(resourceType, base)?.sensitive ?? false;
}
