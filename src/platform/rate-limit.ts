import type { FastifyInstance, FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import ipaddr from 'ipaddr.js'
import { ApiError } from './errors.js'
import type { RateLimitName } from '../instance/instance.schemas.js'

const HOUR_MS = 60 * 60 * 1000
const PUBLIC_WINDOW_MS = 15 * 60 * 1000

/**
 * Per-instance, per-route hourly limits read from the instance's own settings, so an
 * operator's change applies without a restart. Counters live in this process, or in Redis
 * when it is configured so that several processes share them. A Redis outage lets requests
 * through rather than failing them.
 */
export async function registerRateLimits(app: FastifyInstance, redis: Redis | null) {
  await app.register(rateLimit, {
    global: false,
    ...(redis ? { redis, nameSpace: 'foyer-rl:' } : {}),
    skipOnError: true,
    timeWindow: HOUR_MS,
    keyGenerator: (request: FastifyRequest) => request.instance.id,
    addHeadersOnExceeding: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true },
    addHeaders: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true, 'retry-after': true },
    errorResponseBuilder: (_request, context) =>
      new ApiError(429, 'too_many_requests', 'Too many requests',
        `This endpoint allows ${context.max} requests per hour for this instance. Retry after ${Math.ceil(context.ttl / 1000)} seconds.`),
  })
}

/** Route config for one named limit; `0` in the instance's settings lifts it. */
export const limitedBy = (name: RateLimitName) => ({
  rateLimit: {
    max: (request: FastifyRequest) => request.instance.rateLimits[name] || 1,
    allowList: (request: FastifyRequest) => request.instance.rateLimits[name] === 0,
    groupId: name,
  },
})

/**
 * The client a per-IP limit counts: an IPv4 address (an IPv4-mapped IPv6 one as IPv4), or an
 * IPv6 address's /64 network. One subscriber or host is given a whole /64, so counting each of
 * its addresses apart would give one client 2^64 budgets. Anything else is counted as given.
 */
export function clientKey(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip
  const address = ipaddr.process(ip)
  if (address.kind() === 'ipv4') return address.toString()
  return `${(address as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16)).join(':')}::/64`
}

/** A check of one request against named limits: 429 `too_many_requests` with Retry-After past any. */
export type RequestLimit = (request: FastifyRequest) => Promise<void>

type Limiter = ReturnType<FastifyInstance['createRateLimit']>

/**
 * Counts `request` with a limiter made by `createRateLimit` (for limits a route option cannot
 * express: several on one route, or keys a route does not know); past it, 429
 * `too_many_requests` with Retry-After and the message `explain` gives for the limit and the
 * seconds left.
 */
export async function enforceLimit(limit: Limiter, request: FastifyRequest, explain: (max: number, seconds: number) => string): Promise<void> {
  const result = await limit(request)
  if (result.isAllowed || !result.isExceeded) return
  const seconds = Math.max(1, result.ttlInSeconds)
  throw new ApiError(429, 'too_many_requests', 'Too many requests', explain(result.max, seconds), {}, { 'retry-after': String(seconds) })
}

/**
 * Fixed-window limits on public requests, for the hosted pages and the Frontend API. Counted
 * in this process, or in Redis when configured; a Redis outage lets requests through. One
 * set is made per app and handed to each plugin, so that a limit named alike counts one
 * budget wherever it is checked (both sign-up faces share `sign-up:ip`).
 */
export async function createRequestLimits(app: FastifyInstance, redis: Redis | null) {
  let create!: FastifyInstance['createRateLimit']
  await app.register(async (scope) => {
    await scope.register(rateLimit, { global: false, skipOnError: true, ...(redis ? { redis, nameSpace: 'foyer-rl:' } : {}) })
    create = scope.createRateLimit
  })
  const limiter = (name: string, max: number, windowMs: number, key: (req: FastifyRequest) => string) =>
    create({ max, timeWindow: windowMs, keyGenerator: (req) => `pages:${name}:${key(req)}` })
  const tooMany = (_max: number, seconds: number) => {
    const minutes = Math.ceil(seconds / 60)
    return `There have been too many attempts. Wait ${minutes} minute${minutes === 1 ? '' : 's'}, then try again.`
  }
  const enforce = (...limits: Limiter[]): RequestLimit => async (req) => {
    for (const limit of limits) await enforceLimit(limit, req, tooMany)
  }
  const body = (req: FastifyRequest) => (req.body ?? {}) as { identifier?: string }
  const signInByIp = limiter('sign-in:ip', 30, PUBLIC_WINDOW_MS, (req) => clientKey(req.ip))
  // Per address, whatever the instance or casing: spreading guesses over many IPs does not help.
  const signInByAccount = limiter('sign-in:account', 10, PUBLIC_WINDOW_MS, (req) => (body(req).identifier ?? '').trim().toLowerCase())
  // Public sign-up and the waitlist send email or store an address for anyone who asks.
  const signUpByIp = limiter('sign-up:ip', 30, PUBLIC_WINDOW_MS, (req) => clientKey(req.ip))
  // Every handshake stores a nonce: a flood from one IP must not grow the table without bound.
  // Each signed-in browser handshakes about once a minute (a token's life), so a shared
  // office IP stays far below this.
  const handshakeByIp = limiter('handshake:ip', 1200, PUBLIC_WINDOW_MS, (req) => clientKey(req.ip))
  // Invitation links: each use (an address given, a code typed back) counts per client and per
  // link, so that one client cannot burn a link's code budget nor one link drown in attempts.
  const linkKeys = new WeakMap<FastifyRequest, string>()
  const linkByIp = limiter('link:ip', 30, PUBLIC_WINDOW_MS, (req) => clientKey(req.ip))
  const linkByLink = limiter('link:link', 300, PUBLIC_WINDOW_MS, (req) => linkKeys.get(req) ?? '')
  const limitLink = enforce(linkByIp, linkByLink)
  return {
    /** An invitation link's page forms: per IP and per link (`linkId`). */
    linkUse: async (req: FastifyRequest, linkId: string) => {
      linkKeys.set(req, linkId)
      await limitLink(req)
    },
    /** Clerk's handshake, answered with a page (its refusals are pages too). */
    handshake: enforce(handshakeByIp),
    signIn: enforce(signInByIp, signInByAccount),
    /** Hosted sign-up and waitlist, and the Frontend API's code sign-up: one budget per IP. */
    signUp: enforce(signUpByIp),
  }
}

export type RequestLimits = Awaited<ReturnType<typeof createRequestLimits>>
