import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { argon2Verify, bcryptVerify } from 'hash-wasm'
import { paramError } from '../platform/errors.js'

// scrypt from node:crypto: memory-hard, and no native addon to build. N = 2^15, r = 8 uses
// 32 MiB per hash and about 50–100 ms of one core here: slow for a guesser, bearable for a
// sign-in. The parameters travel with each hash, so they can be raised later without
// invalidating stored ones.
const PARAMS = { N: 2 ** 15, r: 8, p: 1 }
let params = PARAMS
const KEY_LENGTH = 32
const MAX_MEMORY = 64 * 1024 * 1024

export const PASSWORD_MIN_LENGTH = 8
// Long enough for any passphrase, short enough that hashing one is not a way to burn CPU.
export const PASSWORD_MAX_LENGTH = 256

const derive = (password: string, salt: Buffer, params: { N: number; r: number; p: number }) =>
  new Promise<Buffer>((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, { ...params, maxmem: MAX_MEMORY } satisfies ScryptOptions,
      (err, key) => (err ? reject(err) : resolve(key))))

/** Refuses a password that is too short or too long, naming the parameter. */
export function checkPassword(password: string, param = 'password'): void {
  if (password.length < PASSWORD_MIN_LENGTH) {
    throw paramError(422, 'form_password_length_too_short', param, 'is too short',
      `Passwords must be ${PASSWORD_MIN_LENGTH} characters or more.`)
  }
  if (password.length > PASSWORD_MAX_LENGTH) {
    throw paramError(422, 'form_password_length_too_long', param, 'is too long',
      `Passwords must be ${PASSWORD_MAX_LENGTH} characters or fewer.`)
  }
}

/**
 * Lowers N for the hashes made from now on in this process (FOYER_TESTING_SCRYPT_LOG_N, which
 * the configuration allows only in testing). Verification reads N from each hash, so the code
 * path is the same; only the cost differs.
 */
export function useScryptCostForTesting(logN: number): void {
  params = { ...PARAMS, N: 2 ** logN }
}

/** `scrypt$N$r$p$salt$key`, salt and key in base64url. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, params)
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$')
}

const argon2Pattern = (variant: string) =>
  new RegExp(`^\\$${variant}\\$v=19\\$m=(\\d{1,8}),t=(\\d{1,3}),p=(\\d{1,2})\\$[A-Za-z0-9+/]{11,}\\$[A-Za-z0-9+/]{16,}$`)
const argon2Costs = ([m, t, p]: number[]) => m! >= 8 * p! && m! <= 64 * 1024 && t! >= 1 && t! <= 10 && p! >= 1 && p! <= 16

/**
 * Digests imported with a user (POST /v1/users `password_digest`), kept as given until the
 * user's first sign-in replaces them with scrypt. The cost limits keep a sign-in against an
 * imported digest from costing more than a few of Foyer's own.
 */
const IMPORTED = {
  bcrypt: { pattern: /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/, costs: ([cost]: number[]) => cost! >= 4 && cost! <= 14 },
  argon2id: { pattern: argon2Pattern('argon2id'), costs: argon2Costs },
  argon2i: { pattern: argon2Pattern('argon2i'), costs: argon2Costs },
} as const
export type PasswordHasher = keyof typeof IMPORTED
export const PASSWORD_HASHERS = Object.keys(IMPORTED) as PasswordHasher[]

/** The digest as stored, or a 422 naming password_hasher (unsupported) or password_digest (malformed). */
export function importedDigest(hasher: string, digest: string): string {
  if (!Object.hasOwn(IMPORTED, hasher)) {
    throw paramError(422, 'form_param_value_invalid', 'password_hasher', 'is not supported',
      `password_hasher must be one of ${PASSWORD_HASHERS.join(', ')}.`)
  }
  const { pattern, costs } = IMPORTED[hasher as PasswordHasher]
  const match = pattern.exec(digest)
  if (!match || !costs(match.slice(1).map(Number))) {
    throw paramError(422, 'form_param_format_invalid', 'password_digest', 'is invalid',
      hasher === 'bcrypt'
        ? 'password_digest must be a bcrypt digest ($2a$, $2b$ or $2y$, cost 4 to 14).'
        : `password_digest must be an ${hasher} digest in PHC form ($${hasher}$v=19$m=…,t=…,p=…$salt$hash; m at most 65536, t at most 10, p at most 16).`)
  }
  return digest
}

/** True for a stored digest that is not Foyer's own scrypt: it is replaced at the next successful sign-in. */
export const needsRehash = (stored: string | null): boolean => stored !== null && !stored.startsWith('scrypt$')

/** Constant-time comparison; false for a malformed or missing hash. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (password.length > PASSWORD_MAX_LENGTH) return false
  // Imported digests were made from the password as typed, without Foyer's normalization.
  if (stored?.startsWith('$2')) return bcryptVerify({ password, hash: stored }).catch(() => false)
  if (stored?.startsWith('$argon2id$') || stored?.startsWith('$argon2i$')) return argon2Verify({ password, hash: stored }).catch(() => false)
  const parts = stored?.split('$') ?? []
  if (parts.length !== 6 || parts[0] !== 'scrypt' || password.length > PASSWORD_MAX_LENGTH) return false
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number]
  const expected = Buffer.from(parts[5]!, 'base64url')
  const key = await derive(password, Buffer.from(parts[4]!, 'base64url'), { N, r, p })
  return key.length === expected.length && timingSafeEqual(key, expected)
}

/**
 * A hash to check against when no user has the identifier, so that "no such account" takes
 * as long as "wrong password" and timing does not reveal which addresses have accounts.
 */
export const dummyHash = () => `scrypt$${params.N}$${params.r}$${params.p}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`
