import { lookup } from 'node:dns/promises'
import { isIP, type LookupFunction } from 'node:net'
import ipaddr from 'ipaddr.js'

/** Every address a host name resolves to (A and AAAA). */
export type HostResolver = (hostname: string) => Promise<string[]>

export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address)

/** What a delivery log shows for a refused target: nothing about what listens there. */
export const TARGET_NOT_ALLOWED = 'target address not allowed'

export class TargetNotAllowedError extends Error {
  readonly code = 'ERR_WEBHOOK_TARGET_NOT_ALLOWED'
  constructor() {
    super(TARGET_NOT_ALLOWED)
  }
}

// IANA allocates global unicast IPv6 from 2000::/3 only; ipaddr.js calls the rest of the
// space 'unicast' too, IPv4-compatible ::a.b.c.d included.
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3')
const RESOLVE_TIMEOUT_MS = 5_000

/**
 * True only for public unicast addresses. Loopback, private, link-local, CGNAT, unique-local,
 * multicast, broadcast, unspecified, documentation and other reserved ranges are refused, as
 * are IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo): their IPv4 half
 * could be any of those.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false
  // An IPv4-mapped IPv6 address is judged as the IPv4 address it stands for.
  const ip = ipaddr.process(address)
  if (ip.range() !== 'unicast') return false
  return ip.kind() === 'ipv4' || ip.match(GLOBAL_UNICAST_V6)
}

/** `localhost` and its subdomains name the machine itself whatever DNS says (RFC 6761). */
const isLocalName = (hostname: string) => hostname === 'localhost' || hostname.endsWith('.localhost')

/** The URL's host as an address, without brackets, or null when it is a name. */
function literalAddress(url: URL): string | null {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  return isIP(host) ? host : null
}

async function resolveBounded(resolve: HostResolver, hostname: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('DNS lookup timed out')), RESOLVE_TIMEOUT_MS)
    timer.unref()
  })
  try {
    return await Promise.race([resolve(hostname), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Whether a webhook may be sent to `url` (already parsed by WHATWG rules, so that `0x7f000001`,
 * `2130706433`, `0177.0.0.1` and `127.1` are all 127.0.0.1 by now). A host name is allowed only
 * when every address it resolves to is public; one that does not resolve is refused too, with
 * the same answer, so that saving an endpoint tells nothing about internal names.
 */
export async function isAllowedTarget(url: URL, resolve: HostResolver): Promise<boolean> {
  const literal = literalAddress(url)
  if (literal !== null) return isPublicAddress(literal)
  const hostname = url.hostname.toLowerCase().replace(/\.$/, '')
  if (isLocalName(hostname)) return false
  try {
    const addresses = await resolveBounded(resolve, hostname)
    return addresses.length > 0 && addresses.every(isPublicAddress)
  } catch {
    return false
  }
}

/** The send-time check for an address in the URL itself (connecting to one skips `lookup`). */
export function isAllowedLiteral(url: URL): boolean {
  const literal = literalAddress(url)
  return literal === null || isPublicAddress(literal)
}

/**
 * A `lookup` for the sockets that deliver webhooks: it resolves the name, refuses the
 * connection unless every address is public, and hands only those checked addresses to the
 * socket. The address checked is the address connected to, so a name that answers a public
 * address when the endpoint is saved and a private one at delivery (DNS rebinding) is refused.
 */
export function checkedLookup(resolve: HostResolver): LookupFunction {
  return (hostname, options, callback) => {
    const name = hostname.toLowerCase().replace(/\.$/, '')
    const resolved = isLocalName(name) ? Promise.reject(new TargetNotAllowedError()) : resolveBounded(resolve, name)
    resolved.then((addresses) => {
      if (addresses.length === 0 || !addresses.every(isPublicAddress)) throw new TargetNotAllowedError()
      const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family
      const listed = addresses.map((address) => ({ address, family: isIP(address) }))
        .filter((a) => !family || a.family === family)
      if (listed.length === 0) throw new TargetNotAllowedError()
      if (options.all) (callback as (err: null, addresses: typeof listed) => void)(null, listed)
      else callback(null, listed[0]!.address, listed[0]!.family)
    }).catch((err: NodeJS.ErrnoException) => {
      // A name that fails to resolve is not a refusal: it is logged and retried like any other failure.
      callback(err, '', 0)
    })
  }
}
