import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * Whether an address is one a server should not be made to call on a client's behalf (loopback,
 * private, link-local, carrier-grade NAT, unspecified, unique-local): the classic server-side
 * request forgery targets. Pure.
 */
export function isPrivateAddress(address: string): boolean {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(address);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
  }
  const v6 = address.toLowerCase();
  return v6 === '::' || v6 === '::1' || /^f[cd][0-9a-f]{2}:/.test(v6) || /^fe[89ab][0-9a-f]:/.test(v6);
}

/**
 * Refuses (with the reason) an endpoint whose host is or resolves to a private address, unless
 * private endpoints are allowed (SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS). Checked when a
 * Subscription is written and again at each delivery (a name may resolve differently later).
 */
export async function endpointRefusal(endpoint: string, allowPrivate: boolean): Promise<string | undefined> {
  if (allowPrivate) return undefined;
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return `the endpoint's host ${host} does not resolve`;
  }
  const blocked = addresses.find(isPrivateAddress);
  return blocked ? `the endpoint's host ${host} is a private or loopback address (${blocked}); set SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS=true to allow it` : undefined;
}
