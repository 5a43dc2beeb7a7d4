import { randomBytes } from 'node:crypto'
import { generateSecret, generateSync, generateURI, verifySync } from 'otplib'

// RFC 6238 with the parameters every authenticator app assumes when an otpauth URI names
// none (otplib's defaults): HMAC-SHA1, 6 digits, 30-second steps. A code of the step before
// or after is accepted too, for a phone clock a little off and a code typed as its step ended.
export const TOTP_STEP_MS = 30_000
const TOLERANCE_SECONDS = TOTP_STEP_MS / 1000

/** 160 random bits, as RFC 4226 recommends, in base32 as authenticator apps take them. */
export const newTotpSecret = () => generateSecret({ length: 20 })

/** The time step `now` falls in. */
export const totpStep = (now: number) => Math.floor(now / TOTP_STEP_MS)

/** The code of one time step. */
export const totpCode = (secret: string, step: number): string => generateSync({ secret, epoch: step * TOLERANCE_SECONDS })

/**
 * The time step whose code `code` is, within one step either side of `now`, or null. The
 * caller refuses a step at or before the last one it accepted, so a code works only once.
 * otplib compares in constant time.
 */
export function matchTotp(secret: string, code: string, now: number): number | null {
  if (!/^\d{6}$/.test(code)) return null
  const result = verifySync({ secret, token: code, epoch: Math.floor(now / 1000), epochTolerance: TOLERANCE_SECONDS })
  return result.valid ? totpStep(now) + result.delta : null
}

/** The otpauth URI an authenticator app reads (as a QR code or pasted): issuer Foyer, account the operator's address. */
export const totpUri = (secret: string, accountName: string, issuer = 'Foyer'): string => generateURI({ issuer, label: accountName, secret })

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
