import { paramError } from './errors.js'

const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/
const DOMAIN = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/

/**
 * The canonical form of an address: trimmed and lower-cased, because an address is one
 * identity whatever its case. Refuses anything that could not be delivered to or that
 * could smuggle a header (spaces, control characters, quotes, comments).
 */
export function normalizeEmail(raw: string, param = 'email_address'): string {
  const email = raw.trim().toLowerCase()
  const at = email.lastIndexOf('@')
  const local = email.slice(0, at)
  const domain = email.slice(at + 1)
  if (at < 1 || email.length > 254 || local.length > 64 || !LOCAL.test(local) || !DOMAIN.test(domain)) {
    throw paramError(422, 'form_param_format_invalid', param, 'is invalid',
      `${param} must be a valid email address.`)
  }
  return email
}

export const METADATA_MAX_BYTES = 8 * 1024

export function checkMetadataSize(metadata: Record<string, unknown>, param = 'public_metadata'): void {
  if (Buffer.byteLength(JSON.stringify(metadata)) > METADATA_MAX_BYTES) {
    throw paramError(422, 'form_param_max_length_exceeded', param, 'is too large',
      `${param} must be at most ${METADATA_MAX_BYTES} bytes when serialized as JSON.`)
  }
}

/**
 * An allowed origin in its canonical form: exact (`https://app.example.com`) or with any port
 * (`http://localhost:*`); null for anything else (another scheme, a path, a query, credentials).
 */
export function originPattern(raw: string): string | null {
  const text = raw.trim()
  const wildcard = /^(https?:\/\/[^/:?#@]+):\*$/.exec(text)
  let url: URL
  try {
    url = new URL(wildcard?.[1] ?? text)
  } catch {
    return null
  }
  // A host is letters, digits, dots and hyphens (IDNs arrive as punycode), or an IPv6 literal:
  // URL accepts `*` and the like in hosts, which no browser would send as an origin.
  const isHost = /^(?:[a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(url.hostname)
  const isOrigin = (url.protocol === 'http:' || url.protocol === 'https:') && isHost && url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password
  if (!isOrigin || /[?#]$/.test(text)) return null
  return wildcard ? `${url.origin}:*` : url.origin
}

/**
 * An allowed origin is exact (`https://app.example.com`) or takes any port
 * (`http://localhost:*`). Anything else, including a look-alike host, is refused.
 */
export function isAllowedOrigin(url: URL, allowed: readonly string[]): boolean {
  return allowed.some((pattern) => {
    if (pattern.endsWith(':*')) {
      const base = new URL(pattern.slice(0, -2))
      return url.protocol === base.protocol && url.hostname === base.hostname
    }
    return url.origin === pattern
  })
}

export function checkRedirectUrl(raw: string, allowed: readonly string[], param = 'redirect_url'): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw paramError(422, 'form_param_format_invalid', param, 'is invalid', `${param} must be an absolute URL.`)
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) {
    throw paramError(422, 'form_param_format_invalid', param, 'is invalid', `${param} must be an http or https URL without credentials.`)
  }
  if (!isAllowedOrigin(url, allowed)) {
    throw paramError(422, 'form_param_value_invalid', param, 'is not allowed',
      `${param} must point to an allowed origin (FOYER_ALLOWED_REDIRECT_ORIGINS); ${url.origin} is not one.`)
  }
  return url.href
}

/** A 64-bit advisory-lock key for one address in one instance. */
// Providers that ignore dots in the local part, so that a.b@ and ab@ reach one inbox.
const DOTLESS_DOMAINS: Record<string, string> = { 'gmail.com': 'gmail.com', 'googlemail.com': 'gmail.com' }

/**
 * The inbox a normalized address reaches, for limits on what is sent to one person: a
 * `+tag` is dropped (most providers deliver victim+1@ and victim+2@ to victim@), and so are
 * dots where the provider ignores them. Never used as the address itself.
 */
export function mailboxOf(email: string): string {
  const at = email.lastIndexOf('@')
  let local = email.slice(0, at).replace(/\+.*$/, '')
  let domain = email.slice(at + 1)
  const dotless = DOTLESS_DOMAINS[domain]
  if (dotless) {
    local = local.replaceAll('.', '')
    domain = dotless
  }
  return `${local || email.slice(0, at)}@${domain}`
}

export function addressLockKey(instanceId: string, email: string, hash: (s: string) => string): bigint {
  return BigInt.asIntN(64, BigInt('0x' + hash(`${instanceId}\n${email}`).slice(0, 16)))
}
