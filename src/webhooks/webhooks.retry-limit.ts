import type { FastifyInstance, FastifyRequest } from 'fastify'
import type {} from '@fastify/rate-limit'
import { enforceLimit } from '../platform/rate-limit.js'

const HOUR_MS = 60 * 60 * 1000

/**
 * Retries by hand per hour. Each one sends a signed request again, at once and outside the
 * delivery schedule: unlimited, they would let a caller turn Foyer into a request cannon.
 */
export const RETRY_LIMITS = { perEndpoint: 20, perInstance: 100 } as const

/**
 * Counts one retry by hand against the endpoint's and the instance's hourly budgets, or throws
 * 429 `too_many_requests` with Retry-After. Needs @fastify/rate-limit registered on `app`; its
 * store holds the counters: in Redis (REDIS_URL) every process, the API and the dashboard count
 * together under these keys; in memory, each process and each of the two counts on its own.
 */
export function retryLimiter(app: FastifyInstance): (request: FastifyRequest, endpointId: string) => Promise<void> {
  const endpointOf = new WeakMap<FastifyRequest, string>()
  const limits = [
    ['endpoint', app.createRateLimit({
      timeWindow: HOUR_MS, max: RETRY_LIMITS.perEndpoint,
      keyGenerator: (req) => `webhook-retry:${req.instance.id}:${endpointOf.get(req)}`,
    })],
    ['instance', app.createRateLimit({
      timeWindow: HOUR_MS, max: RETRY_LIMITS.perInstance,
      keyGenerator: (req) => `webhook-retry:${req.instance.id}`,
    })],
  ] as const
  return async (request, endpointId) => {
    endpointOf.set(request, endpointId)
    for (const [scope, limit] of limits) {
      await enforceLimit(limit, request, (max, seconds) => `Webhook deliveries can be retried ${max} times per hour for this ${scope}. Retry after ${seconds} seconds.`)
    }
  }
}
