import type { FastifyInstance, FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import { ApiError } from './errors.js'
import type { RateLimitName } from '../instance/instance.schemas.js'

const HOUR_MS = 60 * 60 * 1000

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
