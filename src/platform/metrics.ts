import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Db } from './db/db.js'
import type { Clock } from './clock.js'
import type { OutboxStore } from './outbox/outbox.store.js'
import type { DeliveryOutcome } from './outbox/outbox.worker.js'
import type { Startup } from './health.js'
import { ApiError } from './errors.js'
import { sendError } from './http.js'

export interface MetricsOptions {
  db: Db
  /** The outbox worker's clock: due times are on it. */
  clock: Clock
  outbox: OutboxStore
  /** Every kind of outbox item this process delivers, reported even while none is queued. */
  kinds: readonly string[]
  /** Asked for as `Authorization: Bearer …` wherever /metrics is served; null asks for nothing. */
  token: string | null
  startup: Startup
}

// Requests that no route matched (scanners, typos) share one label: raw paths would make a
// series per URL, and could carry ids or tickets.
const UNMATCHED = 'unmatched'

const digest = (text: string) => createHash('sha256').update(text).digest()
const BEARER = /^Bearer\s+(\S+)\s*$/i

/**
 * The Prometheus registry of one app: its own, not prom-client's global one, so that several
 * apps in one process (tests, or two apps side by side) each count their own. Everything read
 * from the database is read when scraped, in one query.
 */
export function createMetrics(options: MetricsOptions) {
  const { db, clock, outbox, kinds } = options
  const registry = new Registry()
  // Process memory, CPU, event loop lag, heap spaces and GC, under prom-client's usual names.
  collectDefaultMetrics({ register: registry })

  const requests = new Counter({
    name: 'foyer_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'foyer_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const deliveries = new Counter({
    name: 'foyer_outbox_deliveries_total',
    help: 'Outbox delivery attempts by kind and result: delivered, retry (failed, to be tried again) or failed (given up).',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  })
  for (const kind of kinds) for (const result of ['delivered', 'retry', 'failed']) deliveries.inc({ kind, result }, 0)

  // Read before the outbox query below takes a connection, so that the scrape does not count itself.
  const poolGauge = (name: string, help: string, read: (stats: ReturnType<Db['pool']>) => number) => new Gauge({
    name, help, registers: [registry],
    collect() {
      this.set(read(db.pool()))
    },
  })
  poolGauge('foyer_db_pool_connections', 'Database connections open (busy or idle). PGlite: 1 while open.', (s) => s.total)
  poolGauge('foyer_db_pool_idle_connections', 'Open database connections not in use.', (s) => s.idle)
  poolGauge('foyer_db_pool_waiting', 'Queries and transactions waiting for a connection.', (s) => s.waiting)
  poolGauge('foyer_db_pool_max_connections', 'The most connections the pool opens. PGlite: 1.', (s) => s.max)

  // The outbox gauges and foyer_ready come from one query per scrape: the first to be
  // collected starts it, the others wait for the same answer.
  let snapshot: Promise<Map<string, { depth: number; oldestDueAt: number | null }> | null> | null = null
  const outboxSnapshot = () => {
    snapshot ??= (async () => {
      try {
        const rows = await outbox.depthByKind(db, clock.now())
        return new Map(rows.map((r) => [r.kind, { depth: r.depth, oldestDueAt: r.oldest_due_at === null ? null : Number(r.oldest_due_at) }]))
      } catch {
        // The database is down: readiness says so; these gauges go missing rather than lie.
        return null
      } finally {
        // A scrape calls every collect at once, before this answers; whatever asks after it
        // belongs to the next scrape.
        snapshot = null
      }
    })()
    return snapshot
  }
  const everyKind = (found: Map<string, unknown>) => [...new Set([...kinds, ...found.keys()])]
  new Gauge({
    name: 'foyer_outbox_depth',
    help: 'Outbox items not yet delivered (pending or being sent), by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      const found = await outboxSnapshot()
      if (found) for (const kind of everyKind(found)) this.set({ kind }, found.get(kind)?.depth ?? 0)
    },
  })
  new Gauge({
    name: 'foyer_outbox_oldest_due_age_seconds',
    help: 'How long the longest-waiting due outbox item of each kind has been due; 0 when none is.',
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      const found = await outboxSnapshot()
      if (!found) return
      const now = clock.now()
      for (const kind of everyKind(found)) {
        const dueAt = found.get(kind)?.oldestDueAt ?? null
        this.set({ kind }, dueAt === null ? 0 : Math.max(0, now - dueAt) / 1000)
      }
    },
  })

  new Gauge({
    name: 'foyer_ready',
    help: 'What readiness would answer: 1 once started with the database answering, else 0.',
    registers: [registry],
    async collect() {
      // The outbox query is this scrape's proof that the database answers.
      this.set(options.startup.ready && (await outboxSnapshot()) !== null ? 1 : 0)
    },
  })

  const expected = options.token === null ? null : digest(options.token)
  /** Whether the request may read the metrics; compared in constant time, over digests of equal length. */
  const allowed = (authorization: string | undefined) => {
    if (expected === null) return true
    const given = BEARER.exec(authorization ?? '')?.[1]
    return given !== undefined && timingSafeEqual(digest(given), expected)
  }

  let server: Server | null = null

  return {
    registry,

    /** Counts one answered request under its route pattern (never its URL). */
    observe(request: FastifyRequest, reply: FastifyReply) {
      const route = request.routeOptions.url ?? UNMATCHED
      requests.inc({ method: request.method, route, status: String(reply.statusCode) })
      duration.observe({ method: request.method, route }, reply.elapsedTime / 1000)
    },

    delivery(kind: string, outcome: DeliveryOutcome) {
      deliveries.inc({ kind, result: outcome })
    },

    /** GET /metrics on the app's own port, behind the token. */
    route(app: FastifyInstance) {
      app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
        if (!allowed(request.headers.authorization)) {
          return sendError(request, reply, new ApiError(401, 'authentication_invalid', 'Unauthorized',
            'GET /metrics needs "Authorization: Bearer <FOYER_METRICS_TOKEN>".', {}, { 'www-authenticate': 'Bearer' }))
        }
        return reply.type(registry.contentType).send(await registry.metrics())
      })
    },

    /** Serves GET /metrics, and nothing else, on a port of its own; resolves with the port. */
    async listen(port: number, host: string): Promise<number> {
      const answer = async (req: IncomingMessage): Promise<[number, Record<string, string>, string]> => {
        const path = (req.url ?? '/').split('?')[0]
        if (path !== '/metrics') return [404, { 'content-type': 'text/plain' }, 'Not found: this port serves GET /metrics only.\n']
        if (req.method !== 'GET' && req.method !== 'HEAD') return [405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }, 'Method not allowed.\n']
        if (!allowed(req.headers.authorization)) return [401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }, 'Unauthorized: send "Authorization: Bearer <FOYER_METRICS_TOKEN>".\n']
        return [200, { 'content-type': registry.contentType }, await registry.metrics()]
      }
      server = createServer((req, res) => {
        answer(req).then(([status, headers, body]) => {
          res.writeHead(status, headers).end(req.method === 'HEAD' ? undefined : body)
        }, () => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end('The metrics could not be collected.\n')
        })
      })
      const listening = server
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject)
        listening.listen(port, host, () => {
          listening.off('error', reject)
          resolve()
        })
      })
      const address = listening.address()
      return typeof address === 'object' && address ? address.port : port
    },

    async close(): Promise<void> {
      const open = server
      server = null
      if (open) await new Promise<void>((resolve) => open.close(() => resolve()))
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>
