/**
 * The verbs that work on a Foyer's own configuration and database rather than through its API:
 * `operator create` and `doctor`.
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parsePublishableKey } from '@clerk/shared/keys'
import type { Config } from '../config.js'
import { systemClock } from '../platform/clock.js'
import type { Db } from '../platform/db/db.js'
import { ApiError } from '../platform/errors.js'
import { packageRoot } from '../platform/paths.js'
import { CliError } from './api.js'

const pgliteDir = (config: Config) => join(config.dataDir, 'pgdata')

async function openDatabase(config: Config): Promise<Db> {
  const { openDb } = await import('../platform/db/db.js')
  return openDb({ databaseUrl: config.databaseUrl, dataDir: pgliteDir(config) })
}

/** An ApiError as one line: its long message and the parameter it names. */
const apiErrorLine = (err: ApiError) => {
  const param = typeof err.meta.param_name === 'string' ? ` (${err.meta.param_name})` : ''
  return `${err.longMessage}${param}`
}

/**
 * The password, never from an argument (it would sit in the shell's history and in `ps`): asked
 * twice on a terminal, with nothing echoed; otherwise the first line of stdin, for scripts.
 */
export async function readPassword(stdin: NodeJS.ReadStream, write: (text: string) => void): Promise<string> {
  if (!stdin.isTTY) {
    let text = ''
    stdin.setEncoding('utf8')
    for await (const chunk of stdin) text += chunk as string
    const password = text.split(/\r?\n/)[0] ?? ''
    if (!password) throw new CliError('no password on stdin: pipe it in (e.g. from a secret store), or run on a terminal to be asked')
    return password
  }
  const first = await promptHidden(stdin, write, 'Password: ')
  const second = await promptHidden(stdin, write, 'Password again: ')
  if (first !== second) throw new CliError('the two passwords differ; nothing was created')
  return first
}

function promptHidden(stdin: NodeJS.ReadStream, write: (text: string) => void, question: string): Promise<string> {
  write(question)
  return new Promise((resolve, reject) => {
    let value = ''
    const finish = () => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      write('\n')
    }
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish()
          return resolve(value)
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish()
          return reject(new CliError('cancelled; nothing was created'))
        }
        value = ch === '\u007f' || ch === '\b' ? value.slice(0, -1) : value + ch
      }
    }
    stdin.setRawMode(true)
    stdin.setEncoding('utf8')
    stdin.on('data', onData)
    stdin.resume()
  })
}

/**
 * The first operator, for installs where nobody opens the setup link Foyer prints: the
 * dashboard's own rules (address, password length, the setup lock) through
 * createFirstOperator. Refused once any operator exists.
 */
export async function createOperator(config: Config, emailAddress: string, password: string): Promise<string> {
  if (config.scryptLogN !== undefined) (await import('../users/passwords.js')).useScryptCostForTesting(config.scryptLogN)
  const { migrate } = await import('../platform/db/migrate.js')
  const { createFirstOperator } = await import('../dashboard/dashboard.service.js')
  const db = await openDatabase(config)
  try {
    await migrate(db)
    const { operator } = await createFirstOperator({ db, clock: systemClock() }, { emailAddress, password })
    return `operator ${operator.emailAddress} created (${operator.id}); sign in at ${config.publicUrl}/dashboard/sign-in`
  } catch (err) {
    if (err instanceof ApiError) throw new CliError(apiErrorLine(err))
    throw err
  } finally {
    await db.close()
  }
}

export type Level = 'ok' | 'warn' | 'fail'
export interface Finding { level: Level; text: string }

const isLoopbackHost = (hostname: string) => hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname)
/** Exit codes as monitoring checks use them: 0 all ok, 1 a warning, 2 a failure. */
export const exitCodeOf = (findings: Finding[]) => findings.some((f) => f.level === 'fail') ? 2 : findings.some((f) => f.level === 'warn') ? 1 : 0

/** Every check of `foyer doctor`, each one finding; none of them sends an email or changes the database. */
export async function doctor(config: Config, env: Record<string, string | undefined>): Promise<Finding[]> {
  const findings: Finding[] = []
  const add = (level: Level, text: string) => findings.push({ level, text })

  let storedKey: string | null = null
  if (config.databaseUrl) {
    const where = (() => {
      const url = new URL(config.databaseUrl)
      return `${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}`
    })()
    let db: Db | null = null
    try {
      db = await openDatabase(config)
      const [version] = await db.query<{ v: string }>("select current_setting('server_version') as v")
      const pending = await pendingMigrations(db)
      add(pending.length ? 'warn' : 'ok', `database: PostgreSQL ${version!.v} at ${where}` +
        (pending.length ? `; ${pending.length} migration${pending.length === 1 ? '' : 's'} not applied yet (foyer migrate, or the next start, applies them)` : ', migrations up to date'))
      const settings = await db.query<{ name: string; setting: string }>("select name, setting from pg_settings where name in ('autovacuum', 'track_counts')")
      const off = settings.filter((s) => s.setting !== 'on').map((s) => s.name)
      if (off.length) add('fail', `autovacuum: ${off.join(' and ')} ${off.length === 1 ? 'is' : 'are'} off: Foyer's queues and sessions churn rows, and without autovacuum their tables and indexes bloat and slow down (set autovacuum = on and track_counts = on)`)
      else add('ok', 'autovacuum: on')
      if (!pending.length) {
        const rows = await db.query<{ publishable_key: string }>('select publishable_key from instances where is_default limit 1')
        storedKey = rows[0]?.publishable_key ?? null
      }
    } catch (err) {
      add('fail', `database: cannot use PostgreSQL at ${where}: ${(err as Error).message}`)
    } finally {
      await db?.close().catch(() => {})
    }
  } else {
    const dir = pgliteDir(config)
    // Not opened: PGlite is one process's database, and the server may be running on it.
    if (existsSync(join(dir, 'PG_VERSION'))) add('ok', `database: embedded PGlite in ${dir} (one process only; DATABASE_URL for several)`)
    else add('warn', `database: no PGlite database in ${dir} yet; the first start (or foyer migrate) creates it`)
    add('ok', 'autovacuum: not applicable to the embedded PGlite')
  }

  findings.push(await checkSmtp(config))

  if (config.serverSecret) add('ok', `FOYER_SECRET: set (${config.serverSecret.length} bytes)`)
  else if (config.databaseUrl) add('warn', 'FOYER_SECRET: not set while DATABASE_URL is PostgreSQL: every process generates its own in FOYER_DATA_DIR, so a ticket one signs fails on another; set the same FOYER_SECRET on all of them')
  else add('ok', `FOYER_SECRET: not set; generated once in ${config.dataDir} (fine for one process)`)

  const publicUrl = new URL(config.publicUrl)
  // The key Foyer serves: the default instance's stored one, or the one the next start derives.
  const { publishableKeyFor } = await import('../instance/instance.service.js')
  const key = storedKey ?? publishableKeyFor(config.secretKey?.startsWith('sk_live_') ? 'production' : 'development', config.publicUrl)
  const parsed = parsePublishableKey(key)
  const plainHttp = publicUrl.protocol === 'http:' && !isLoopbackHost(publicUrl.hostname)
  if (!parsed) add('fail', `public URL: ${config.publicUrl}; its publishable key ${key} is one Clerk's SDKs refuse (the host needs a dot, e.g. foyer.example.com): set FOYER_PUBLIC_URL to the address browsers use`)
  else if (!env.FOYER_PUBLIC_URL) add('warn', `public URL: ${config.publicUrl}, the default; set FOYER_PUBLIC_URL to the address browsers and emails use (publishable key ${key})`)
  else if (plainHttp) add('warn', `public URL: ${config.publicUrl} is plain http on a non-local host: sessions and links travel unencrypted; use https (publishable key ${key})`)
  else add('ok', `public URL: ${config.publicUrl}; publishable key ${key} (${parsed.instanceType}, Frontend API ${parsed.frontendApi})`)

  const insecure = config.allowedRedirectOrigins.filter((o) => {
    const url = new URL(o.replace(':*', ''))
    return url.protocol === 'http:' && !isLoopbackHost(url.hostname)
  })
  const origins = config.allowedRedirectOrigins.join(', ')
  if (insecure.length) add('warn', `allowed redirect origins: ${origins}; plain http on a non-local host: ${insecure.join(', ')}`)
  else add('ok', `allowed redirect origins: ${origins}${env.FOYER_ALLOWED_REDIRECT_ORIGINS ? '' : ' (the default; FOYER_ALLOWED_REDIRECT_ORIGINS for your application\'s)'}`)
  return findings
}

async function pendingMigrations(db: Db): Promise<string[]> {
  const files = readdirSync(join(packageRoot, 'src', 'platform', 'migrations')).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
  let recorded = new Set<string>()
  try {
    recorded = new Set((await db.query<{ version: string }>('select version from schema_migrations')).map((r) => r.version))
  } catch {
    // No schema_migrations table: nothing was applied yet.
  }
  return files.filter((f) => !recorded.has(f.slice(0, 3)))
}

/** Connects and authenticates as a delivery would (nodemailer's verify), and sends nothing. */
async function checkSmtp(config: Config): Promise<Finding> {
  if (!config.smtpUrl) return { level: 'warn', text: 'SMTP: SMTP_URL is not set: emails go to the dev mailbox and reach nobody' }
  const url = new URL(config.smtpUrl)
  // Host and user only: the URL's password never goes to the terminal.
  const where = `${url.protocol}//${url.username ? `${decodeURIComponent(url.username)}@` : ''}${url.host}`
  const nodemailer = (await import('nodemailer')).default
  const transport = nodemailer.createTransport({ url: config.smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 15_000 } as Parameters<typeof nodemailer.createTransport>[0])
  try {
    await transport.verify()
    return { level: 'ok', text: `SMTP: ${where} accepted the connection${url.username ? ' and the login' : ''} (nothing was sent)` }
  } catch (err) {
    const e = err as Error & { code?: string; response?: string }
    const reason = e.response ?? e.message
    return { level: 'fail', text: `SMTP: ${where}: ${e.code ? `${e.code}: ` : ''}${reason.replace(config.smtpUrl, where)}` }
  } finally {
    transport.close()
  }
}
