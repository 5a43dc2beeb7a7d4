import { randomBytes } from 'node:crypto'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { Redis } from 'ioredis'
import { buildApp, loggerOptions, type Services } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { manualClock } from '../../src/platform/clock.js'
import type { Db } from '../../src/platform/db/db.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import type { HostResolver } from '../../src/webhooks/webhooks.targets.js'
import { describe } from 'node:test'
import { forEachDatabase, openTestDb, postgresUrl, redisUrl, type Engine } from './databases.js'
import { startRoundRobinProxy } from './round-robin-proxy.js'

export const PUBLIC_URL = 'http://foyer.test'
export const APP_ORIGIN = 'https://app.example.com'

export interface TestApp {
  app: FastifyInstance
  services: Services
  db: Db
  /** The PostgreSQL database's URL (another pool on it acts as another process); null on PGlite. */
  databaseUrl: string | null
  config: Config
  clock: ReturnType<typeof manualClock>
  serverSecret: Buffer
  /** Not started: tests deliver what is due with `outboxWorker.drain()`. */
  outboxWorker: Awaited<ReturnType<typeof buildApp>>['outboxWorker']
  /** Not started either: tests sweep expiry events and reminders with `expirySweep.runOnce()`. */
  expirySweep: Awaited<ReturnType<typeof buildApp>>['expirySweep']
  /** Null unless the env sets FOYER_METRICS_PORT or FOYER_METRICS_TOKEN; its port is not listened on unless a test does. */
  metrics: Awaited<ReturnType<typeof buildApp>>['metrics']
  /** Not started either: tests prune delivery history with `retention.runOnce()`. */
  retention: Awaited<ReturnType<typeof buildApp>>['retention']
  /** A new instance with its own secret key: tests isolate their data this way. */
  newInstance(name?: string): Promise<{ instance: Instance; secretKey: string }>
  close(): Promise<void>
}

/**
 * An app over a fresh database (in-memory PGlite by default), a clock that moves only when
 * told, and configuration passed in rather than read from the environment. `redis` shares
 * rate-limit counters through that client; the caller owns it and disconnects it. With
 * `logLines`, every line the app logs (at debug) is pushed there. `resolveHost` answers the
 * DNS lookups of webhook targets (there is no outside network here).
 */
export async function buildTestApp(options: { engine?: Engine; env?: Record<string, string>; redis?: Redis | null; logLines?: string[]; resolveHost?: HostResolver; cacheMs?: number } = {}): Promise<TestApp> {
  const testing = (options.env?.FOYER_TESTING ?? '1') === '1'
  // Read before the database opens: a configuration a test means to be refused leaves no pool behind.
  const config = loadConfig({
    FOYER_PUBLIC_URL: PUBLIC_URL,
    FOYER_ALLOWED_REDIRECT_ORIGINS: `${APP_ORIGIN},http://localhost:*`,
    FOYER_TESTING: '1',
    // Test receivers listen on 127.0.0.1; tests of the address check pass '0'.
    FOYER_WEBHOOK_ALLOW_PRIVATE: '1',
    // Cheap scrypt (N = 2^10): the suites sign up and sign in thousands of times. The cost
    // Foyer ships with is checked in test/users/passwords.test.ts and used by the child
    // processes and by apps built without the testing mode.
    ...(testing ? { FOYER_TESTING_SCRYPT_LOG_N: '10' } : {}),
    ...options.env,
  })
  const { db, url, drop } = await openTestDb(options.engine ?? 'pglite')
  const clock = manualClock(Date.now())
  const serverSecret = randomBytes(32)
  const lines = options.logLines
  const logger = lines && { ...loggerOptions('debug') as object, stream: { write: (line: string) => { lines.push(line) } } }
  const { app, services, outboxWorker, expirySweep, metrics, retention } = await buildApp({ config, db, clock, serverSecret, redis: options.redis ?? null, ...(logger ? { logger } : {}), ...(options.resolveHost ? { resolveHost: options.resolveHost } : {}), ...(options.cacheMs === undefined ? {} : { cacheMs: options.cacheMs }) })
  await app.ready()
  return {
    app, services, db, databaseUrl: url, config, clock, serverSecret, outboxWorker, expirySweep, metrics, retention,
    newInstance: (name = 'Test app') => services.instances.create({ name }),
    close: async () => {
      await app.close()
      await drop()
    },
  }
}

/**
 * Two apps over one database and one Redis, each with a Redis client of its own, as two Foyer
 * processes behind one address would be. `close` ends both, and the clients.
 */
export async function buildTwoProcesses(engine: Engine): Promise<{ t: TestApp; second: FastifyInstance; redis: Redis; close(): Promise<void> }> {
  if (!redisUrl) throw new Error('TEST_REDIS_URL is not set')
  const redisA = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  const redisB = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  const t = await buildTestApp({ engine, redis: redisA })
  const second = (await buildApp({ config: t.config, db: t.db, clock: t.clock, serverSecret: t.serverSecret, redis: redisB })).app
  await second.ready()
  return {
    t, second, redis: redisA,
    close: async () => {
      await second.close()
      await t.close()
      redisA.disconnect()
      redisB.disconnect()
    },
  }
}

export interface Reply<T = any> {
  status: number
  body: T
  headers: Record<string, string | string[] | number | undefined>
}

/** A small client over app.inject that speaks as one instance. */
export function client(app: FastifyInstance, secretKey: string) {
  const send = async <T = any>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> => {
    const res = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${secretKey}`, ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers }
  }
  return {
    get: <T = any>(url: string) => send<T>('GET', url),
    post: <T = any>(url: string, body?: unknown, headers?: Record<string, string>) => send<T>('POST', url, body, headers),
    patch: <T = any>(url: string, body?: unknown) => send<T>('PATCH', url, body),
    delete: <T = any>(url: string) => send<T>('DELETE', url),
    raw: (opts: InjectOptions) => app.inject(opts),
  }
}

export type Client = ReturnType<typeof client>

let seq = 0
export const uniqueEmail = (prefix = 'person') => `${prefix}.${Date.now().toString(36)}.${seq++}.${randomBytes(3).toString('hex')}@example.com`

/**
 * Where an SDK test sends its calls: one app over each engine and, on PostgreSQL with Redis,
 * two apps over one database and one Redis behind a round-robin proxy, as two Foyer processes
 * behind one address would be. Every other call of the test then lands on the other app from
 * the one before it.
 */
export interface SdkTarget {
  engine: Engine
  proxied: boolean
}

export function forEachSdkTarget(name: string, suite: (target: SdkTarget) => void) {
  forEachDatabase(name, (engine) => suite({ engine, proxied: false }))
  if (postgresUrl && redisUrl) describe(`${name} [postgres, two apps behind a proxy]`, () => suite({ engine: 'postgres', proxied: true }))
}

export interface SdkServer {
  /** The first app: `t.app.inject`, `t.services` and `t.clock` reach it alone (and the shared database). */
  t: TestApp
  /** Where SDK clients point: the app itself, or the proxy in front of both. */
  apiUrl: string
  close(): Promise<void>
}

/**
 * Starts the target's app or apps and listens. Behind the proxy each app reads instances and
 * signing keys afresh on every request (cacheMs 0): a test's next call may land on the other
 * app at once, and the documented delay before a process sees another's change (2 and 5
 * seconds) is the several-processes test's subject, not the contract's.
 */
export async function startSdkServer(target: SdkTarget, options: { logLines?: string[] } = {}): Promise<SdkServer> {
  if (!target.proxied) {
    const t = await buildTestApp({ engine: target.engine, ...options })
    return { t, apiUrl: await t.app.listen({ port: 0, host: '127.0.0.1' }), close: () => t.close() }
  }
  const redisA = new Redis(redisUrl!, { maxRetriesPerRequest: 1 })
  const redisB = new Redis(redisUrl!, { maxRetriesPerRequest: 1 })
  const t = await buildTestApp({ engine: target.engine, redis: redisA, cacheMs: 0, ...options })
  const second = (await buildApp({ config: t.config, db: t.db, clock: t.clock, serverSecret: t.serverSecret, redis: redisB, cacheMs: 0 })).app
  const upstreams = [await t.app.listen({ port: 0, host: '127.0.0.1' }), await second.listen({ port: 0, host: '127.0.0.1' })]
  const proxy = await startRoundRobinProxy(upstreams)
  return {
    t, apiUrl: proxy.url,
    close: async () => {
      // Proof that the calls were spread: a suite whose client bypassed the proxy would pass here too.
      const spread = upstreams.map((url) => proxy.sent.get(url) ?? 0)
      await proxy.stop()
      await second.close()
      await t.close()
      redisA.disconnect()
      redisB.disconnect()
      if (spread.some((n) => n === 0)) throw new Error(`the proxy sent ${spread.join(' and ')} requests to the two apps: the suite did not go through both`)
    },
  }
}
