import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseServerSecret } from '../config.js'

export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')

/**
 * Tickets are HMAC(server secret, "<id>:<nonce>"). The database holds only the nonce and
 * the ticket's hash, so a copy of it yields no working link; a new nonce kills the old link.
 */
export function deriveTicket(serverSecret: Buffer, subjectId: string, nonce: string): string {
  return createHmac('sha256', serverSecret).update(`${subjectId}:${nonce}`).digest('base64url')
}

export const newNonce = () => randomBytes(16).toString('base64url')

/** Whether a secret someone sent is the expected one, in time that does not tell how much of it matched. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The server secret when FOYER_SECRET is unset: generated once into the data folder, never
 * into the database, so that a database dump alone cannot forge or recover tickets.
 */
export function loadOrCreateServerSecret(dataDir: string): { secret: Buffer; created: boolean } {
  const file = join(dataDir, 'server-secret')
  if (existsSync(file)) return { secret: parseServerSecret(readFileSync(file, 'utf8').trim()), created: false }
  mkdirSync(dataDir, { recursive: true })
  const secret = randomBytes(32)
  writeFileSync(file, secret.toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
  return { secret, created: true }
}

/**
 * A 6-digit code that is HMAC(server secret, "<purpose>:<id>:<nonce>"): derived for the email
 * and again for checking, never stored; a new nonce makes a new code.
 */
export function deriveCode(serverSecret: Buffer, purpose: string, subjectId: string, nonce: string): string {
  const mac = createHmac('sha256', serverSecret).update(`${purpose}:${subjectId}:${nonce}`).digest()
  return String(mac.readUInt32BE(0) % 1_000_000).padStart(6, '0')
}

const SEAL_VERSION = 'v1'

const sealingKey = (serverSecret: Buffer) =>
  Buffer.from(hkdfSync('sha256', serverSecret, Buffer.alloc(0), 'foyer sealed secrets v1', 32))

/**
 * A secret the server must be able to show again (an instance's secret key), encrypted with
 * AES-256-GCM under a key derived from the server secret. `context` is bound in as associated
 * data, so a sealed value copied onto another row does not open there.
 */
export function seal(serverSecret: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sealingKey(serverSecret), iv)
  cipher.setAAD(Buffer.from(context))
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return [SEAL_VERSION, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
}

/** The plaintext of `seal`, or null when it was sealed under another server secret or context, or altered. */
export function unseal(serverSecret: Buffer, sealed: string, context: string): string | null {
  const [version, iv, body, tag] = sealed.split('.')
  if (version !== SEAL_VERSION || !iv || body === undefined || !tag) return null
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(serverSecret), Buffer.from(iv, 'base64url'), { authTagLength: 16 })
    decipher.setAAD(Buffer.from(context))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
  } catch {
    return null
  }
}
