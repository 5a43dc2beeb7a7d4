/**
 * The only reader of the environment. Every variable in the README's Configuration table is read here once,
 * validated, and returned as a frozen object; an invalid value stops start-up with a
 * message that names the variable.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { parse as parseDotenv } from 'dotenv'
import { originPattern } from './platform/validation.js'
import { DEFAULT_RETENTION_DAYS, type RetentionDays } from './platform/outbox/outbox.retention.js'

export interface Config {
  port: number
  host: string
  dataDir: string
  databaseUrl: string | null
  redisUrl: string | null
  publicUrl: string
  secretKey: string | null
  /** Server secret as raw bytes; null means "generate once and store". */
  serverSecret: Buffer | null
  smtpUrl: string | null
  emailFrom: string
  webhookUrl: string | null
  webhookSecret: string | null
  /** Endpoints created through the API or dashboard may target loopback and private networks. */
  webhookAllowPrivate: boolean
  allowedRedirectOrigins: readonly string[]
  /**
   * Fastify's `trustProxy`: false (the socket's address is the client's), a number of proxy
   * hops, or the proxies' addresses and networks. Only then is X-Forwarded-For believed.
   */
  trustProxy: false | number | readonly string[]
  /** A port of its own for `/metrics`, bound to `host`; null serves it on no extra port. */
  metricsPort: number | null
  /** The bearer token `/metrics` asks for wherever it is served; with no port, it is then served on the main one. */
  metricsToken: string | null
  /** How many days delivery history is kept (FOYER_RETENTION_EMAILS_DAYS, …_WEBHOOKS_DAYS, …_FAILED_DAYS), and the audit log (FOYER_RETENTION_AUDIT_DAYS). */
  retentionDays: Readonly<RetentionDays>
  logLevel: string
  testing: boolean
  /** Only with FOYER_TESTING: how long an outbox claim lasts, so crash tests need not wait for the default. */
  outboxLeaseMs?: number
  /** Only with FOYER_TESTING: log2 of scrypt's N for new password hashes, so suites that sign in hundreds of times stay fast. */
  scryptLogN?: number
}

export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`Invalid configuration: ${variable} ${reason}`)
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Reads `.env` from the working folder; real environment variables win over it. */
export function readEnvironment(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  let fromFile: Record<string, string> = {}
  try {
    fromFile = parseDotenv(readFileSync(resolve(cwd, '.env')))
  } catch {
    // no .env file is the normal case
  }
  return { ...fromFile, ...env }
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const get = (name: string): string | null => {
    const value = env[name]?.trim()
    return value ? value : null
  }

  const port = parsePort(get('PORT') ?? '3000')
  const host = get('HOST') ?? '0.0.0.0'
  const publicUrl = parseOrigin('FOYER_PUBLIC_URL', get('FOYER_PUBLIC_URL') ?? `http://localhost:${port}`)

  const databaseUrl = get('DATABASE_URL')
  if (databaseUrl !== null) requireUrl('DATABASE_URL', databaseUrl, ['postgres:', 'postgresql:'])
  const redisUrl = get('REDIS_URL')
  if (redisUrl !== null) requireUrl('REDIS_URL', redisUrl, ['redis:', 'rediss:'])
  const smtpUrl = get('SMTP_URL')
  if (smtpUrl !== null) requireUrl('SMTP_URL', smtpUrl, ['smtp:', 'smtps:'])

  const secretKey = get('FOYER_SECRET_KEY')
  // Any URL-safe key: keys carried over from elsewhere are often base64url, with '-' and '_'.
  if (secretKey !== null && !/^sk_(test|live)_[A-Za-z0-9_-]{16,}$/.test(secretKey)) {
    throw new ConfigError('FOYER_SECRET_KEY', 'must look like sk_test_… or sk_live_… followed by at least 16 URL-safe characters (letters, digits, - and _)')
  }

  const rawSecret = get('FOYER_SECRET')
  const serverSecret = rawSecret === null ? null : parseServerSecret(rawSecret)

  const webhookUrl = get('FOYER_WEBHOOK_URL')
  const webhookSecret = get('FOYER_WEBHOOK_SECRET')
  if (webhookUrl !== null) requireUrl('FOYER_WEBHOOK_URL', webhookUrl, ['http:', 'https:'])
  if (webhookSecret !== null && !/^whsec_[A-Za-z0-9+/=]{24,}$/.test(webhookSecret)) {
    throw new ConfigError('FOYER_WEBHOOK_SECRET', 'must be a whsec_… secret (base64 after the prefix)')
  }
  if ((webhookUrl === null) !== (webhookSecret === null)) {
    throw new ConfigError(webhookUrl === null ? 'FOYER_WEBHOOK_URL' : 'FOYER_WEBHOOK_SECRET',
      'must be set together with ' + (webhookUrl === null ? 'FOYER_WEBHOOK_SECRET' : 'FOYER_WEBHOOK_URL'))
  }

  const webhookAllowPrivate = parseFlag('FOYER_WEBHOOK_ALLOW_PRIVATE', get('FOYER_WEBHOOK_ALLOW_PRIVATE'))

  const trustProxy = parseTrustProxy(get('FOYER_TRUST_PROXY'))

  const metricsPortRaw = get('FOYER_METRICS_PORT')
  let metricsPort: number | null = null
  if (metricsPortRaw !== null) {
    metricsPort = /^\d{1,5}$/.test(metricsPortRaw) ? Number(metricsPortRaw) : NaN
    // 0 would be a port nobody could find to scrape.
    if (!(metricsPort >= 1 && metricsPort <= 65535)) throw new ConfigError('FOYER_METRICS_PORT', 'must be an integer from 1 to 65535')
    if (metricsPort === port) throw new ConfigError('FOYER_METRICS_PORT', 'must differ from PORT (set FOYER_METRICS_TOKEN alone to serve /metrics on PORT)')
  }
  const metricsToken = get('FOYER_METRICS_TOKEN')
  // The characters of an HTTP bearer token, and enough of them not to be guessed.
  if (metricsToken !== null && !/^[A-Za-z0-9._~+/=-]{32,}$/.test(metricsToken)) {
    throw new ConfigError('FOYER_METRICS_TOKEN', 'must be at least 32 characters of letters, digits and . _ ~ + / = -')
  }

  const originsRaw = get('FOYER_ALLOWED_REDIRECT_ORIGINS')
  const allowedRedirectOrigins = originsRaw === null
    ? [publicUrl, 'http://localhost:*']
    : originsRaw.split(',').map((o) => o.trim()).filter(Boolean).map(parseOriginPattern)

  const retentionDays: RetentionDays = Object.freeze({
    emails: parseDays('FOYER_RETENTION_EMAILS_DAYS', get('FOYER_RETENTION_EMAILS_DAYS'), DEFAULT_RETENTION_DAYS.emails),
    webhooks: parseDays('FOYER_RETENTION_WEBHOOKS_DAYS', get('FOYER_RETENTION_WEBHOOKS_DAYS'), DEFAULT_RETENTION_DAYS.webhooks),
    failed: parseDays('FOYER_RETENTION_FAILED_DAYS', get('FOYER_RETENTION_FAILED_DAYS'), DEFAULT_RETENTION_DAYS.failed),
    audit: parseDays('FOYER_RETENTION_AUDIT_DAYS', get('FOYER_RETENTION_AUDIT_DAYS'), DEFAULT_RETENTION_DAYS.audit),
  })

  const logLevel = get('LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`)
  }

  const testingRaw = get('FOYER_TESTING')
  if (testingRaw !== null && testingRaw !== '1' && testingRaw !== '0') {
    throw new ConfigError('FOYER_TESTING', 'must be 1 or unset')
  }
  const leaseRaw = get('FOYER_TESTING_OUTBOX_LEASE_MS')
  let outboxLeaseMs: number | undefined
  if (leaseRaw !== null) {
    // A lease shorter than the slowest delivery lets a slow item be sent twice: never in production.
    if (testingRaw !== '1') throw new ConfigError('FOYER_TESTING_OUTBOX_LEASE_MS', 'is only allowed with FOYER_TESTING=1')
    outboxLeaseMs = Number(leaseRaw)
    if (!/^\d+$/.test(leaseRaw) || outboxLeaseMs < 1000 || outboxLeaseMs > 600_000) {
      throw new ConfigError('FOYER_TESTING_OUTBOX_LEASE_MS', 'must be a whole number of milliseconds from 1000 to 600000')
    }
  }

  const logNRaw = get('FOYER_TESTING_SCRYPT_LOG_N')
  let scryptLogN: number | undefined
  if (logNRaw !== null) {
    // A cheap hash is a cheap guess: never in production.
    if (testingRaw !== '1') throw new ConfigError('FOYER_TESTING_SCRYPT_LOG_N', 'is only allowed with FOYER_TESTING=1')
    scryptLogN = Number(logNRaw)
    if (!/^\d+$/.test(logNRaw) || scryptLogN < 4 || scryptLogN > 20) {
      throw new ConfigError('FOYER_TESTING_SCRYPT_LOG_N', 'must be a whole number from 4 to 20')
    }
  }

  return Object.freeze({
    port,
    host,
    dataDir: resolve(get('FOYER_DATA_DIR') ?? './.foyer'),
    databaseUrl,
    redisUrl,
    publicUrl,
    secretKey,
    serverSecret,
    smtpUrl,
    emailFrom: get('EMAIL_FROM') ?? 'Foyer <no-reply@localhost>',
    webhookUrl,
    webhookSecret,
    webhookAllowPrivate,
    allowedRedirectOrigins: Object.freeze(allowedRedirectOrigins),
    trustProxy,
    metricsPort,
    metricsToken,
    retentionDays,
    logLevel,
    testing: testingRaw === '1',
    ...(outboxLeaseMs === undefined ? {} : { outboxLeaseMs }),
    ...(scryptLogN === undefined ? {} : { scryptLogN }),
  })
}

// proxy-addr's names for the reserved ranges, which Fastify accepts beside addresses.
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal']

/**
 * FOYER_TRUST_PROXY: a hop count (1–10), or a comma-separated list of proxy addresses, CIDR
 * networks and the names loopback, linklocal and uniquelocal. `true` (trust any sender of
 * X-Forwarded-For) is refused: it would let every client choose the address its limits count.
 */
function parseTrustProxy(raw: string | null): Config['trustProxy'] {
  if (raw === null || raw === '' || raw === '0' || raw === 'false') return false
  const reason = 'must be a number of proxy hops (1 to 10) or a comma-separated list of proxy addresses, CIDR networks, loopback, linklocal or uniquelocal'
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw)
    if (hops > 10) throw new ConfigError('FOYER_TRUST_PROXY', reason)
    return hops
  }
  const entries = raw.split(',').map((entry) => entry.trim()).filter(Boolean)
  const valid = (entry: string) => {
    if (PROXY_RANGES.includes(entry)) return true
    const [address, bits, ...rest] = entry.split('/')
    const family = isIP(address!)
    if (family === 0 || rest.length > 0) return false
    return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
  }
  if (entries.length === 0 || !entries.every(valid)) throw new ConfigError('FOYER_TRUST_PROXY', reason)
  return Object.freeze(entries)
}

/** A retention in whole days: at least one, at most ten years. */
function parseDays(variable: string, raw: string | null, fallback: number): number {
  if (raw === null) return fallback
  const days = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN
  if (!(days >= 1 && days <= 3650)) throw new ConfigError(variable, 'must be a whole number of days from 1 to 3650')
  return days
}

/** Off unless set to 1 or true; anything else is a mistake worth stopping for. */
function parseFlag(variable: string, raw: string | null): boolean {
  if (raw === null) return false
  const value = raw.toLowerCase()
  if (value === '1' || value === 'true') return true
  if (value === '0' || value === 'false') return false
  throw new ConfigError(variable, 'must be 1 or true (or 0, false, unset)')
}

function parsePort(raw: string): number {
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isInteger(port) || port > 65535) {
    throw new ConfigError('PORT', 'must be an integer from 0 to 65535')
  }
  return port
}

function requireUrl(variable: string, raw: string, protocols: string[]): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(variable, 'is not a valid URL')
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(variable, `must start with ${protocols.map((p) => p + '//').join(' or ')}`)
  }
  return url
}

function parseOrigin(variable: string, raw: string): string {
  const url = requireUrl(variable, raw, ['http:', 'https:'])
  if (url.pathname !== '/' || url.search || url.hash) {
    throw new ConfigError(variable, 'must be an origin such as https://foyer.example.com, without a path')
  }
  return url.origin
}

function parseOriginPattern(raw: string): string {
  const origin = originPattern(raw)
  if (origin === null) {
    throw new ConfigError('FOYER_ALLOWED_REDIRECT_ORIGINS', `must list origins such as https://app.example.com or http://localhost:* (any port), without a path; ${JSON.stringify(raw.slice(0, 100))} is not one`)
  }
  return origin
}

export function parseServerSecret(raw: string): Buffer {
  const bytes = /^[0-9a-fA-F]+$/.test(raw) && raw.length % 2 === 0
    ? Buffer.from(raw, 'hex')
    : /^[A-Za-z0-9+/_-]+={0,2}$/.test(raw) ? Buffer.from(raw, 'base64') : null
  if (bytes === null || bytes.length < 32) {
    throw new ConfigError('FOYER_SECRET', 'must be at least 32 bytes, written as hex or base64')
  }
  return bytes
}
