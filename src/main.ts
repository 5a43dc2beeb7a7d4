import { createServer } from 'node:net'
import { join } from 'node:path'
import { ConfigError, loadConfig, readEnvironment, type Config } from './config.js'
import { openDb } from './platform/db/db.js'
import { migrate } from './platform/db/migrate.js'
import { systemClock } from './platform/clock.js'
import { loadOrCreateServerSecret } from './platform/secrets.js'
import { buildApp, loggerOptions } from './app.js'
import { createDashboardService } from './dashboard/dashboard.service.js'

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/** Whether HOST keeps the server to this machine (the dev mailbox warning depends on it). */
const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)

async function readConfig(): Promise<Config> {
  const env = readEnvironment()
  try {
    const config = loadConfig(env)
    // PORT=0: pick the port first, so that the default public URL (and every link) carries it.
    return config.port === 0 ? loadConfig({ ...env, PORT: String(await freePort(config.host)) }) : config
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n')
      process.exit(1)
    }
    throw err
  }
}

async function main() {
  const config = await readConfig()
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pgdata') })
  const serverSecret = config.serverSecret ?? loadOrCreateServerSecret(config.dataDir).secret
  const redis = config.redisUrl ? new (await import('ioredis')).Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 }) : null
  redis?.on('error', () => {})

  const clock = systemClock()
  // Listening comes before migrating: liveness answers through long migrations (an orchestrator
  // must not restart the process for them), while readiness, and every other request, answer 503.
  const startup = { ready: false }
  const { app, services, outboxWorker, expirySweep, metrics, retention } = await buildApp({ config, db, clock, serverSecret, redis, logger: loggerOptions(config.logLevel), startup })

  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down')
    try {
      // First, while SMTP and the database are still open: items being delivered finish,
      // the rest are handed back. Then in-flight requests finish; what they queue is
      // delivered at the next start (or by another process).
      await expirySweep.stop()
      await retention.stop()
      await outboxWorker.stop()
      await app.close()
      await db.close()
      redis?.disconnect()
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))

  await app.listen({ port: config.port, host: config.host })
  const metricsPort = metrics && config.metricsPort !== null ? await metrics.listen(config.metricsPort, config.host) : null
  await migrate(db)
  const boot = await services.instances.bootstrap(config.secretKey)
  // Printed, never stored in clear: a new link at every start until the first operator exists.
  const setupToken = await createDashboardService({ db, clock, instances: services.instances }).issueSetupToken()
  await services.webhooks.syncConfigEndpoint(boot.instance.id, config.webhookUrl, config.webhookSecret)
  startup.ready = true
  outboxWorker.start()
  expirySweep.start()
  retention.start()
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host
  const lines = [
    `Foyer listening on http://${shownHost}:${port}`,
    `  engine:          ${db.engine === 'pglite' ? `PGlite (${join(config.dataDir, 'pgdata')})` : 'PostgreSQL'}`,
    `  instance:        ${boot.instance.id} (${boot.instance.environmentType})`,
    boot.secretKey
      ? `  secret key:      ${boot.secretKey}   (printed at first start only: reveal or roll it in the dashboard's Settings; set FOYER_SECRET_KEY to pin a key)`
      : `  secret key:      ${config.secretKey ? 'from FOYER_SECRET_KEY' : 'printed at first start only: reveal or roll it in the dashboard\'s Settings'}`,
    `  publishable key: ${boot.instance.publishableKey}`,
    `  dashboard:       ${config.publicUrl}/dashboard`,
    ...(metricsPort !== null ? [`  metrics:         http://${shownHost}:${metricsPort}/metrics${config.metricsToken ? '   (bearer FOYER_METRICS_TOKEN)' : ''}`] : []),
    ...(metricsPort === null && config.metricsToken ? [`  metrics:         ${config.publicUrl}/metrics   (bearer FOYER_METRICS_TOKEN)`] : []),
    ...(setupToken ? [`  setup:           ${config.publicUrl}/dashboard/setup?token=${setupToken}   (one-time link: creates the first operator)`] : []),
    ...(config.smtpUrl ? [] : [`  dev mailbox:     ${config.publicUrl}/dev/mailbox   (signed-in dashboard operators only)`]),
    ...(config.smtpUrl || isLoopback(config.host) ? [] : [
      `  warning:         no SMTP_URL, so every email (working invitation links, sign-up codes) goes to the dev mailbox, served on ${config.host}: reachable from other machines, readable by signed-in operators only. Set HOST=127.0.0.1 to keep it local, or SMTP_URL to send real email.`,
    ]),
  ]
  process.stdout.write(lines.join('\n') + '\n')
  if (config.databaseUrl && !config.serverSecret) {
    app.log.warn('FOYER_SECRET is not set: the server secret was generated into FOYER_DATA_DIR; set it explicitly, and identically on every process, when several processes share this database')
  }
}

main().catch((err) => {
  process.stderr.write(`Foyer failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
