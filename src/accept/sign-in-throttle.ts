import type { Redis } from 'ioredis'
import { ApiError } from '../platform/errors.js'
import { sha256 } from '../platform/secrets.js'
import { clientKey } from '../platform/rate-limit.js'

export interface SignInLimits {
  /** Failed sign-ins per account (instance + identifier) per window. */
  perAccount: number
  /** Failed sign-ins per client IP per window, whatever accounts they aim at. */
  perIp: number
  windowMs: number
}

// Ten guesses per account every 15 minutes make a password of eight characters hopeless to
// guess online, while a person mistyping theirs is never stopped. The IP limit is higher
// because one office or carrier NAT holds many people.
export const SIGN_IN_LIMITS: SignInLimits = { perAccount: 10, perIp: 100, windowMs: 15 * 60 * 1000 }

/** Fixed-window counters. */
export interface Counter {
  /** Counts one hit and answers the count so far in the key's window and the time left in it. */
  hit(key: string, windowMs: number): Promise<{ count: number; retryAfterMs: number }>
  /** Takes one hit back, if the key's window still runs. */
  refund(key: string): Promise<void>
}

/** Counters in this process: enough for one Foyer process, per process when there are several. */
export function memoryCounter(now: () => number): Counter {
  const windows = new Map<string, { count: number; resetAt: number }>()
  let hits = 0
  const sweep = (t: number) => {
    for (const [key, w] of windows) if (w.resetAt <= t) windows.delete(key)
  }
  return {
    async hit(key, windowMs) {
      const t = now()
      // Entries outlive their window until a sweep; sweeping now and then keeps memory bounded
      // by what one window can hold.
      if (++hits % 1000 === 0) sweep(t)
      let w = windows.get(key)
      if (!w || w.resetAt <= t) windows.set(key, (w = { count: 0, resetAt: t + windowMs }))
      w.count++
      return { count: w.count, retryAfterMs: w.resetAt - t }
    },
    async refund(key) {
      const w = windows.get(key)
      if (w && w.resetAt > now() && w.count > 0) w.count--
    },
  }
}

// Decrements only a live key: a refund arriving after its window ended must not leave a
// negative counter without expiry behind.
const REFUND = `if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end return 0`

/**
 * Counters shared by every Foyer process through Redis (REDIS_URL), so that spreading guesses
 * over processes gains nothing. While Redis fails, counting falls back to this process.
 */
export function redisCounter(redis: Redis, fallback: Counter, onError: (err: unknown) => void = () => {}): Counter {
  const name = (key: string) => `foyer-signin:${key}`
  return {
    async hit(key, windowMs) {
      try {
        const results = await redis.multi().set(name(key), 0, 'PX', windowMs, 'NX').incr(name(key)).pttl(name(key)).exec()
        const [, [incrErr, count], [ttlErr, ttl]] = results as [unknown, [Error | null, number], [Error | null, number]]
        if (incrErr || ttlErr) throw incrErr ?? ttlErr
        return { count, retryAfterMs: Math.max(ttl, 0) }
      } catch (err) {
        onError(err)
        return fallback.hit(key, windowMs)
      }
    },
    async refund(key) {
      try {
        await redis.eval(REFUND, 1, name(key))
      } catch (err) {
        onError(err)
        await fallback.refund(key)
      }
    },
  }
}

/**
 * Sign-in throttling, shared by the hosted pages and the Frontend API because both sign in
 * through the accept service. Every attempt is counted before the password is checked, so
 * that concurrent guesses cannot slip past the limit together; a successful one is taken
 * back, so in the end only failures count. Unknown identifiers count like known ones: the
 * answer must not tell which addresses have accounts.
 */
export function createSignInThrottle({ counter, limits = SIGN_IN_LIMITS }: { counter: Counter; limits?: SignInLimits }) {
  // Hashed: the counters' keys need not spell out anyone's address (Redis keys are listable).
  const accountKey = (instanceId: string, identifier: string) => `acct:${sha256(`${instanceId}\n${identifier}`)}`
  const ipKey = (ip: string) => `ip:${clientKey(ip)}`

  const tooMany = (retryAfterMs: number) => {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000))
    return new ApiError(429, 'too_many_requests', 'Too many requests',
      `Too many failed sign-in attempts. Retry after ${seconds} seconds.`, {}, { 'retry-after': String(seconds) })
  }

  /**
   * Counts an attempt, or throws 429 `too_many_requests` (with Retry-After) when the IP or the
   * account is over its limit. The answer's `succeeded` takes the attempt back.
   */
  async function begin(input: { instanceId: string; identifier: string; ip?: string | null }): Promise<{ succeeded(): Promise<void> }> {
    const keys: string[] = []
    if (input.ip) {
      const ip = await counter.hit(ipKey(input.ip), limits.windowMs)
      if (ip.count > limits.perIp) throw tooMany(ip.retryAfterMs)
      keys.push(ipKey(input.ip))
    }
    const account = await counter.hit(accountKey(input.instanceId, input.identifier), limits.windowMs)
    if (account.count > limits.perAccount) throw tooMany(account.retryAfterMs)
    keys.push(accountKey(input.instanceId, input.identifier))
    return { succeeded: async () => { await Promise.all(keys.map((k) => counter.refund(k))) } }
  }

  return { begin }
}

export type SignInThrottle = ReturnType<typeof createSignInThrottle>
