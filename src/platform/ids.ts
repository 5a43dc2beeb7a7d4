import { createHash, randomBytes } from 'node:crypto'

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
// KSUID's epoch (2014-05-13), so ids look and sort like Clerk's (`inv_2b6NfrkHKSU6mSYx2FwX4AtzeFi`).
const EPOCH_SECONDS = 1_400_000_000

/** 27 base62 characters: 4 bytes of seconds then 16 random bytes, so ids sort by creation. */
export function ksuid(nowMs = Date.now()): string {
  const bytes = Buffer.alloc(20)
  bytes.writeUInt32BE(Math.max(0, Math.floor(nowMs / 1000) - EPOCH_SECONDS), 0)
  randomBytes(16).copy(bytes, 4)
  let n = BigInt('0x' + bytes.toString('hex'))
  let out = ''
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)] + out
    n /= 62n
  }
  return out.padStart(27, '0')
}

export type IdPrefix = 'inv' | 'user' | 'idn' | 'ins' | 'msg' | 'org' | 'orginv' | 'orgmem' | 'role' | 'perm' | 'orgdmn' | 'orgsug' | 'ep' | 'evt' | 'sess' | 'sua' | 'sia' | 'client' | 'wle' | 'key' | 'jwk' | 'sit' | 'alid' | 'blid' | 'invlink' | 'linkuse' | 'linkatt'

/** Whether `text` has the shape of an instance id (`ins_…`): anything else is no instance, and costs no query. */
export const isInstanceId = (text: string) => /^ins_[A-Za-z0-9]{1,64}$/.test(text)

export const newId = (prefix: IdPrefix, nowMs?: number) => `${prefix}_${ksuid(nowMs)}`

/** Random letters and digits for secrets: 62^n possibilities, no ambiguity about encoding. */
export function randomToken(length: number): string {
  const out: string[] = []
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 × 62: rejecting larger bytes keeps every character equally likely.
      if (byte < 248 && out.length < length) out.push(ALPHABET[byte % 62]!)
    }
  }
  return out.join('')
}

/**
 * A `msg_` id derived from another item's id and a purpose: the same inputs always give the
 * same id, so queuing it again (a retried or re-run delivery) is a no-op, not a duplicate.
 */
export const derivedId = (sourceId: string, purpose: string) =>
  `msg_${createHash('md5').update(`${sourceId}:${purpose}`).digest('hex').slice(0, 27)}`
