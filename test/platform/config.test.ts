import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, loadConfig, readEnvironment } from '../../src/config.js'
import { packageRoot } from '../../src/platform/paths.js'

const HEX_32 = 'ab'.repeat(32)
const WHSEC = 'whsec_' + Buffer.alloc(24, 7).toString('base64')
const SK_TEST = 'sk_test_' + 'A1b2C3d4E5'.repeat(4)

/** `loadConfig(env)` must throw a ConfigError for `variable`, with the variable in its message. */
function assertRefused(env: Record<string, string>, variable: string) {
  assert.throws(() => loadConfig(env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(env)}, got ${String(err)}`)
    assert.equal(err.variable, variable)
    assert.match(err.message, new RegExp(`\\b${variable}\\b`))
    return true
  })
}

describe('loadConfig(env)', () => {
  it('takes FOYER_TESTING_OUTBOX_LEASE_MS only with FOYER_TESTING=1, and leaves it unset otherwise', () => {
    assert.equal(loadConfig({ FOYER_TESTING: '1', FOYER_TESTING_OUTBOX_LEASE_MS: '5000' }).outboxLeaseMs, 5000)
    assert.equal(loadConfig({ FOYER_TESTING: '1' }).outboxLeaseMs, undefined)
    assert.equal(loadConfig({}).outboxLeaseMs, undefined)
  })

  it('takes FOYER_TESTING_SCRYPT_LOG_N only with FOYER_TESTING=1, and leaves it unset otherwise', () => {
    assert.equal(loadConfig({ FOYER_TESTING: '1', FOYER_TESTING_SCRYPT_LOG_N: '10' }).scryptLogN, 10)
    assert.equal(loadConfig({ FOYER_TESTING: '1' }).scryptLogN, undefined)
    assert.equal(loadConfig({}).scryptLogN, undefined)
  })

  it('reads FOYER_TRUST_PROXY as off, a hop count, or a list of proxy addresses and networks', () => {
    for (const off of [{}, { FOYER_TRUST_PROXY: '' }, { FOYER_TRUST_PROXY: '0' }, { FOYER_TRUST_PROXY: 'false' }]) assert.equal(loadConfig(off).trustProxy, false)
    assert.equal(loadConfig({ FOYER_TRUST_PROXY: '2' }).trustProxy, 2)
    assert.deepEqual(loadConfig({ FOYER_TRUST_PROXY: '10.0.0.1, 10.1.0.0/16,fd00::/8, loopback' }).trustProxy, ['10.0.0.1', '10.1.0.0/16', 'fd00::/8', 'loopback'])
  })

  it('reads FOYER_METRICS_PORT and FOYER_METRICS_TOKEN, both unset (no /metrics) by default', () => {
    assert.equal(loadConfig({}).metricsPort, null)
    assert.equal(loadConfig({}).metricsToken, null)
    const token = 'a'.repeat(20) + '._~+/=-' + '0'.repeat(5)
    const config = loadConfig({ FOYER_METRICS_PORT: '9464', FOYER_METRICS_TOKEN: token })
    assert.equal(config.metricsPort, 9464)
    assert.equal(config.metricsToken, token)
  })

  it('answers the contract\'s defaults for an empty environment', () => {
    const config = loadConfig({})
    assert.equal(config.port, 3000)
    assert.equal(config.host, '0.0.0.0')
    assert.equal(config.dataDir, resolve(process.cwd(), '.foyer'))
    assert.equal(config.databaseUrl, null)
    assert.equal(config.redisUrl, null)
    assert.equal(config.publicUrl, 'http://localhost:3000')
    assert.equal(config.secretKey, null)
    assert.equal(config.serverSecret, null)
    assert.equal(config.smtpUrl, null)
    assert.equal(config.emailFrom, 'Foyer <no-reply@localhost>')
    assert.equal(config.webhookUrl, null)
    assert.equal(config.webhookSecret, null)
    assert.deepEqual([...config.allowedRedirectOrigins], ['http://localhost:3000', 'http://localhost:*'])
    assert.equal(config.logLevel, 'info')
    assert.equal(config.testing, false)
    assert.deepEqual(config.retentionDays, { emails: 30, webhooks: 30, failed: 90, audit: 365 })
  })

  it('treats empty and blank variables as unset', () => {
    const config = loadConfig({ PORT: '', HOST: '  ', LOG_LEVEL: '', DATABASE_URL: '' })
    assert.equal(config.port, 3000)
    assert.equal(config.host, '0.0.0.0')
    assert.equal(config.logLevel, 'info')
    assert.equal(config.databaseUrl, null)
  })

  it('derives the default public URL and allowed origins from PORT', () => {
    const config = loadConfig({ PORT: '8080' })
    assert.equal(config.port, 8080)
    assert.equal(config.publicUrl, 'http://localhost:8080')
    assert.deepEqual([...config.allowedRedirectOrigins], ['http://localhost:8080', 'http://localhost:*'])
  })

  it('uses FOYER_PUBLIC_URL as the first default allowed origin', () => {
    const config = loadConfig({ FOYER_PUBLIC_URL: 'https://foyer.example.com' })
    assert.equal(config.publicUrl, 'https://foyer.example.com')
    assert.deepEqual([...config.allowedRedirectOrigins], ['https://foyer.example.com', 'http://localhost:*'])
  })

  it('resolves a relative FOYER_DATA_DIR against the working folder', () => {
    assert.equal(loadConfig({ FOYER_DATA_DIR: 'var/foyer' }).dataDir, resolve(process.cwd(), 'var/foyer'))
    assert.equal(loadConfig({ FOYER_DATA_DIR: '/srv/foyer' }).dataDir, '/srv/foyer')
  })

  it('accepts every variable when it is valid', () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      FOYER_DATA_DIR: '/tmp/foyer-config-test',
      DATABASE_URL: 'postgres://user:pw@db.internal:5432/foyer',
      REDIS_URL: 'redis://cache.internal:6379',
      FOYER_PUBLIC_URL: 'https://foyer.example.com',
      FOYER_SECRET_KEY: SK_TEST,
      FOYER_SECRET: HEX_32,
      SMTP_URL: 'smtp://user:pass@mail.example.com:587',
      EMAIL_FROM: 'Team <team@example.com>',
      FOYER_WEBHOOK_URL: 'https://hooks.example.com/foyer',
      FOYER_WEBHOOK_SECRET: WHSEC,
      FOYER_ALLOWED_REDIRECT_ORIGINS: 'https://app.example.com, http://localhost:*',
      LOG_LEVEL: 'warn',
      FOYER_TESTING: '1',
      FOYER_RETENTION_EMAILS_DAYS: '7',
      FOYER_RETENTION_WEBHOOKS_DAYS: '14',
      FOYER_RETENTION_FAILED_DAYS: '3650',
      FOYER_RETENTION_AUDIT_DAYS: '730',
    })
    assert.equal(config.port, 0)
    assert.equal(config.host, '127.0.0.1')
    assert.equal(config.databaseUrl, 'postgres://user:pw@db.internal:5432/foyer')
    assert.equal(config.redisUrl, 'redis://cache.internal:6379')
    assert.equal(config.secretKey, SK_TEST)
    assert.deepEqual(config.serverSecret, Buffer.from(HEX_32, 'hex'))
    assert.equal(config.smtpUrl, 'smtp://user:pass@mail.example.com:587')
    assert.equal(config.emailFrom, 'Team <team@example.com>')
    assert.equal(config.webhookUrl, 'https://hooks.example.com/foyer')
    assert.equal(config.webhookSecret, WHSEC)
    assert.deepEqual([...config.allowedRedirectOrigins], ['https://app.example.com', 'http://localhost:*'])
    assert.equal(config.logLevel, 'warn')
    assert.equal(config.testing, true)
    assert.deepEqual(config.retentionDays, { emails: 7, webhooks: 14, failed: 3650, audit: 730 })
  })

  it('accepts the alternative schemes and encodings the contract allows', () => {
    assert.equal(loadConfig({ DATABASE_URL: 'postgresql://db/foyer' }).databaseUrl, 'postgresql://db/foyer')
    assert.equal(loadConfig({ REDIS_URL: 'rediss://cache:6380' }).redisUrl, 'rediss://cache:6380')
    assert.equal(loadConfig({ SMTP_URL: 'smtps://u:p@mail:465' }).smtpUrl, 'smtps://u:p@mail:465')
    assert.equal(loadConfig({ FOYER_SECRET_KEY: 'sk_live_' + 'Z9'.repeat(20) }).secretKey, 'sk_live_' + 'Z9'.repeat(20))
    // @see issue 12
    for (const key of ['sk_test_' + 'a-b_'.repeat(4), 'sk_live_-_' + 'Zz09'.repeat(5), 'sk_test_' + '_'.repeat(16)]) {
      assert.equal(loadConfig({ FOYER_SECRET_KEY: key }).secretKey, key)
    }
    const base64 = Buffer.alloc(32, 9).toString('base64')
    assert.equal(loadConfig({ FOYER_SECRET: base64 }).serverSecret?.length, 32)
  })

  const refused: [string, Record<string, string>][] = [
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '80.5' }],
    ['PORT', { PORT: '3000abc' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://root@localhost/foyer' }],
    ['DATABASE_URL', { DATABASE_URL: 'http://localhost:5432/foyer' }],
    ['DATABASE_URL', { DATABASE_URL: 'not a url' }],
    ['REDIS_URL', { REDIS_URL: 'http://localhost:6379' }],
    ['REDIS_URL', { REDIS_URL: 'localhost:6379' }],
    ['REDIS_URL', { REDIS_URL: 'garbage' }],
    ['SMTP_URL', { SMTP_URL: 'http://mail.example.com' }],
    ['SMTP_URL', { SMTP_URL: 'mail.example.com:25' }],
    ['FOYER_SECRET_KEY', { FOYER_SECRET_KEY: 'pk_test_' + 'a'.repeat(40) }],
    ['FOYER_SECRET_KEY', { FOYER_SECRET_KEY: 'sk_prod_' + 'a'.repeat(40) }],
    ['FOYER_SECRET_KEY', { FOYER_SECRET_KEY: 'sk_test_short' }],
    ['FOYER_SECRET_KEY', { FOYER_SECRET_KEY: 'sk_test_' + 'a'.repeat(20) + '!' }],
    ['FOYER_SECRET_KEY', { FOYER_SECRET_KEY: 'sk_test_' + 'a-b_'.repeat(3) + '+/=' }],
    ['FOYER_SECRET_KEY', { FOYER_SECRET_KEY: 'sk_test_' + 'a_-'.repeat(5) }],
    ['FOYER_SECRET', { FOYER_SECRET: 'ab'.repeat(31) }],
    ['FOYER_SECRET', { FOYER_SECRET: Buffer.alloc(31, 1).toString('base64') }],
    ['FOYER_SECRET', { FOYER_SECRET: 'short' }],
    ['FOYER_SECRET', { FOYER_SECRET: 'not base64 at all, but long enough to be 32 bytes!!' }],
    ['FOYER_WEBHOOK_SECRET', { FOYER_WEBHOOK_URL: 'https://hooks.example.com', FOYER_WEBHOOK_SECRET: Buffer.alloc(24, 7).toString('base64') }],
    ['FOYER_WEBHOOK_SECRET', { FOYER_WEBHOOK_URL: 'https://hooks.example.com', FOYER_WEBHOOK_SECRET: 'secret_' + 'a'.repeat(32) }],
    ['FOYER_WEBHOOK_SECRET', { FOYER_WEBHOOK_URL: 'https://hooks.example.com' }],
    ['FOYER_WEBHOOK_URL', { FOYER_WEBHOOK_SECRET: WHSEC }],
    ['FOYER_WEBHOOK_URL', { FOYER_WEBHOOK_URL: 'ftp://hooks.example.com', FOYER_WEBHOOK_SECRET: WHSEC }],
    ['FOYER_ALLOWED_REDIRECT_ORIGINS', { FOYER_ALLOWED_REDIRECT_ORIGINS: 'ftp://files.example.com' }],
    ['FOYER_ALLOWED_REDIRECT_ORIGINS', { FOYER_ALLOWED_REDIRECT_ORIGINS: 'https://app.example.com/welcome' }],
    ['FOYER_ALLOWED_REDIRECT_ORIGINS', { FOYER_ALLOWED_REDIRECT_ORIGINS: 'not an origin' }],
    ['FOYER_ALLOWED_REDIRECT_ORIGINS', { FOYER_ALLOWED_REDIRECT_ORIGINS: 'https://app.example.com,javascript:alert(1)' }],
    ['FOYER_PUBLIC_URL', { FOYER_PUBLIC_URL: 'foyer.example.com' }],
    ['FOYER_PUBLIC_URL', { FOYER_PUBLIC_URL: 'https://foyer.example.com/base' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['FOYER_TESTING', { FOYER_TESTING: 'yes' }],
    ['FOYER_TESTING_OUTBOX_LEASE_MS', { FOYER_TESTING_OUTBOX_LEASE_MS: '5000' }],
    ['FOYER_TESTING_OUTBOX_LEASE_MS', { FOYER_TESTING: '1', FOYER_TESTING_OUTBOX_LEASE_MS: '999' }],
    ['FOYER_TESTING_OUTBOX_LEASE_MS', { FOYER_TESTING: '1', FOYER_TESTING_OUTBOX_LEASE_MS: '5s' }],
    ['FOYER_TESTING_OUTBOX_LEASE_MS', { FOYER_TESTING: '1', FOYER_TESTING_OUTBOX_LEASE_MS: '600001' }],
    ['FOYER_TRUST_PROXY', { FOYER_TRUST_PROXY: 'true' }],
    ['FOYER_TRUST_PROXY', { FOYER_TRUST_PROXY: '11' }],
    ['FOYER_TRUST_PROXY', { FOYER_TRUST_PROXY: 'proxy.internal' }],
    ['FOYER_TRUST_PROXY', { FOYER_TRUST_PROXY: '10.0.0.0/33' }],
    ['FOYER_TRUST_PROXY', { FOYER_TRUST_PROXY: '10.0.0.1, bogus' }],
    ['FOYER_METRICS_PORT', { FOYER_METRICS_PORT: '0' }],
    ['FOYER_METRICS_PORT', { FOYER_METRICS_PORT: '65536' }],
    ['FOYER_METRICS_PORT', { FOYER_METRICS_PORT: 'metrics' }],
    ['FOYER_METRICS_PORT', { PORT: '4000', FOYER_METRICS_PORT: '4000' }],
    ['FOYER_METRICS_TOKEN', { FOYER_METRICS_TOKEN: 'short' }],
    ['FOYER_METRICS_TOKEN', { FOYER_METRICS_TOKEN: 'a'.repeat(31) }],
    ['FOYER_METRICS_TOKEN', { FOYER_METRICS_TOKEN: 'a'.repeat(32) + ' b' }],
    ['FOYER_TESTING_SCRYPT_LOG_N', { FOYER_TESTING_SCRYPT_LOG_N: '10' }],
    ['FOYER_TESTING_SCRYPT_LOG_N', { FOYER_TESTING: '1', FOYER_TESTING_SCRYPT_LOG_N: '3' }],
    ['FOYER_TESTING_SCRYPT_LOG_N', { FOYER_TESTING: '1', FOYER_TESTING_SCRYPT_LOG_N: '21' }],
    ['FOYER_TESTING_SCRYPT_LOG_N', { FOYER_TESTING: '1', FOYER_TESTING_SCRYPT_LOG_N: 'ten' }],
    ['FOYER_RETENTION_EMAILS_DAYS', { FOYER_RETENTION_EMAILS_DAYS: '0' }],
    ['FOYER_RETENTION_EMAILS_DAYS', { FOYER_RETENTION_EMAILS_DAYS: '-1' }],
    ['FOYER_RETENTION_WEBHOOKS_DAYS', { FOYER_RETENTION_WEBHOOKS_DAYS: '1.5' }],
    ['FOYER_RETENTION_WEBHOOKS_DAYS', { FOYER_RETENTION_WEBHOOKS_DAYS: '30d' }],
    ['FOYER_RETENTION_FAILED_DAYS', { FOYER_RETENTION_FAILED_DAYS: '3651' }],
    ['FOYER_RETENTION_AUDIT_DAYS', { FOYER_RETENTION_AUDIT_DAYS: '0' }],
  ]
  for (const [variable, env] of refused) {
    it(`throws a ConfigError naming ${variable} for ${JSON.stringify(env)}`, () => assertRefused(env, variable))
  }
})

describe('readEnvironment(cwd, env)', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'foyer-env-'))
    writeFileSync(join(dir, '.env'), 'PORT=4000\nHOST=127.0.0.1\nLOG_LEVEL=debug\n# a comment\nEMAIL_FROM="Quoted <q@example.com>"\n')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('reads a .env file in the working folder', () => {
    const config = loadConfig(readEnvironment(dir, {}))
    assert.equal(config.port, 4000)
    assert.equal(config.host, '127.0.0.1')
    assert.equal(config.logLevel, 'debug')
    assert.equal(config.emailFrom, 'Quoted <q@example.com>')
    assert.equal(config.publicUrl, 'http://localhost:4000')
  })

  it('lets real environment variables win over the .env file', () => {
    const config = loadConfig(readEnvironment(dir, { PORT: '5000', LOG_LEVEL: 'error' }))
    assert.equal(config.port, 5000)
    assert.equal(config.logLevel, 'error')
    assert.equal(config.host, '127.0.0.1')
  })

  it('reads only the environment when the folder has no .env file', () => {
    const empty = mkdtempSync(join(tmpdir(), 'foyer-noenv-'))
    try {
      assert.deepEqual(readEnvironment(empty, { PORT: '6000' }), { PORT: '6000' })
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })
})

// Every variable of the contract's table, so that the child process sees none of the parent's.
const CONFIG_VARIABLES = ['PORT', 'HOST', 'FOYER_DATA_DIR', 'DATABASE_URL', 'REDIS_URL', 'FOYER_PUBLIC_URL', 'FOYER_SECRET_KEY',
  'FOYER_SECRET', 'SMTP_URL', 'EMAIL_FROM', 'FOYER_WEBHOOK_URL', 'FOYER_WEBHOOK_SECRET', 'FOYER_ALLOWED_REDIRECT_ORIGINS', 'FOYER_TRUST_PROXY', 'FOYER_METRICS_PORT', 'FOYER_METRICS_TOKEN', 'LOG_LEVEL', 'FOYER_TESTING', 'FOYER_TESTING_OUTBOX_LEASE_MS', 'FOYER_TESTING_SCRYPT_LOG_N',
  'FOYER_RETENTION_EMAILS_DAYS', 'FOYER_RETENTION_WEBHOOKS_DAYS', 'FOYER_RETENTION_FAILED_DAYS', 'FOYER_RETENTION_AUDIT_DAYS']

describe('node main (the real process)', () => {
  it('exits non-zero with a message naming PORT when PORT=abc', () => {
    const compiled = fileURLToPath(import.meta.url).endsWith('.js')
    const args = compiled
      ? ['--enable-source-maps', join(packageRoot, 'dist', 'src', 'main.js')]
      : ['--import', 'tsx', join(packageRoot, 'src', 'main.ts')]
    const dataDir = mkdtempSync(join(tmpdir(), 'foyer-main-'))
    const env: NodeJS.ProcessEnv = { ...process.env }
    for (const name of CONFIG_VARIABLES) delete env[name]
    try {
      const result = spawnSync(process.execPath, args, {
        cwd: packageRoot,
        env: { ...env, PORT: 'abc', FOYER_DATA_DIR: dataDir },
        encoding: 'utf8',
        // A guard against a process that starts serving instead of refusing, not a timing assertion.
        timeout: 60_000,
        killSignal: 'SIGKILL',
      })
      assert.equal(result.error, undefined, `could not run ${args.join(' ')}: ${String(result.error)}`)
      assert.notEqual(result.status, null, 'the process did not exit on its own (it may be serving)')
      assert.notEqual(result.status, 0)
      assert.match(result.stderr, /\bPORT\b/)
      assert.doesNotMatch(result.stdout, /Foyer listening/)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
