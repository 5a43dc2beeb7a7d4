import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Db } from './db/db.js'

/**
 * Where a starting process is: it listens (and is alive) before its migrations have run and
 * its default instance exists, but is ready only after. Apps built without one are ready at once.
 */
export interface Startup {
  ready: boolean
}

// A database that does not answer at all (a dropped network, not a refused connection) must
// not hold the probe until its own timeout: after this long it is as good as down.
const READY_TIMEOUT_MS = 2000

/**
 * Liveness and readiness, apart. Liveness says only that the process serves requests, so that
 * an orchestrator does not restart it during long migrations or while the database is away
 * (a restart would fix neither). Readiness says whether to send it traffic.
 */
export function healthRoutes({ db, startup }: { db: Db; startup: Startup }) {
  return async (app: FastifyInstance) => {
    async function ready(): Promise<'ok' | 'starting' | 'unavailable'> {
      if (!startup.ready) return 'starting'
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          db.query('select 1'),
          new Promise((_resolve, reject) => {
            timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS)
          }),
        ])
        return 'ok'
      } catch {
        return 'unavailable'
      } finally {
        clearTimeout(timer)
      }
    }

    const readiness = async (_request: unknown, reply: FastifyReply) => {
      const status = await ready()
      return reply.code(status === 'ok' ? 200 : 503).header('cache-control', 'no-store').send({ status })
    }
    // /v1/health is the contract's original check ("ok once the database answers"): readiness.
    app.get('/v1/health', { schema: { hide: true } }, readiness)
    app.get('/v1/health/ready', { schema: { hide: true } }, readiness)
    app.get('/v1/health/live', { schema: { hide: true } }, async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }))
  }
}
