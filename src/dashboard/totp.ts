import { createHmac, randomBytes } from 'node:crypto'

// RFC 6238 with the parameters every authenticator app assumes when an otpauth URI names
// none: HMAC-SHA1, 6 digits, 30-second steps. A code of the step before or after is accepted
// too, for a phone clock a little off and a code typed as its step ended.
export const TOTP_STEP_MS = 30_000
const DIGITS = 6
const WINDOW = 1
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

export function base32Encode(bytes: Buffer): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=-]/g, '').toUpperCase()
  let bits = 0
  let value = 0
  const out: number[] = []
  for (const c of clean) {
    const i = BASE32.indexOf(c)
    if (i < 0) throw new Error('not base32')
    value = (value << 5) | i
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255)
      bits -= 8
    }
  }
  return Buffer.from(out)
}

/** 160 random bits, as RFC 4226 recommends, in base32 as authenticator apps take them. */
export const newTotpSecret = () => base32Encode(randomBytes(20))

/** The time step `now` falls in. */
export const totpStep = (now: number) => Math.floor(now / TOTP_STEP_MS)

/** The code of one time step (RFC 4226 dynamic truncation over the step counter). */
export function totpCode(secret: string, step: number): string {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(step))
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest()
  const offset = mac[mac.length - 1]! & 0x0f
  const binary = mac.readUInt32BE(offset) & 0x7fffffff
  return String(binary % 10 ** DIGITS).padStart(DIGITS, '0')
}

/**
 * The time step whose code `code` is, within one step either side of `now`, or null. The
 * caller refuses a step at or before the last one it accepted, so a code works only once.
 */
export function matchTotp(secret: string, code: string, now: number): number | null {
  if (!/^\d{6}$/.test(code)) return null
  const current = totpStep(now)
  let found: number | null = null
  // Every candidate is computed and compared, so the time taken does not tell which one matched.
  for (let step = current - WINDOW; step <= current + WINDOW; step++) {
    if (timingSafeEqualText(totpCode(secret, step), code) && found === null) found = step
  }
  return found
}

function timingSafeEqualText(a: string, b: string): boolean {
  let diff = a.length ^ b.length
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/** The otpauth URI an authenticator app reads (as a QR code or pasted): issuer Foyer, account the operator's address. */
export function totpUri(secret: string, accountName: string, issuer = 'Foyer'): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(accountName)}`
  return `otpauth://totp/${label}?secret=${secret}&issuer=${encodeURIComponent(issuer)}&algorithm=SHA1&digits=${DIGITS}&period=${TOTP_STEP_MS / 1000}`
}

/** The secret in groups of four, easier to type into an app by hand. */
export const groupSecret = (secret: string) => secret.replace(/(.{4})/g, '$1 ').trim()

// Recovery codes: ten of 10 characters from an alphabet without look-alikes (50 bits each),
// shown once in two groups of five, stored as sha256 of the normalised code.
// 32 characters: no i, l, o or 0 to mistake for another.
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz123456789'
export const RECOVERY_CODE_COUNT = 10

export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const bytes = randomBytes(10)
    const chars = [...bytes].map((b) => RECOVERY_ALPHABET[b & 31]).join('')
    return `${chars.slice(0, 5)}-${chars.slice(5)}`
  })
}

/** How a recovery code is compared: case, spaces and dashes as typed do not matter. */
export const normalizeRecoveryCode = (code: string) => code.toLowerCase().replace(/[\s-]/g, '')
