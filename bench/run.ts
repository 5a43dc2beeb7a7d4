/**
 * `npm run bench`: loads Foyer's create and list on PGlite and on PostgreSQL, two baselines on
 * the same PostgreSQL, and session tokens (mint, handshake) on PostgreSQL, each server in its
 * own process; prints the figures and writes them to bench/RESULTS.md.
 *
 * Environment: BENCH_DATABASE_URL (PostgreSQL server; default postgres://root@127.0.0.1:5432),
 * BENCH_SECONDS (per load, default 10), BENCH_PGLITE_ROWS (default 1,000,000),
 * BENCH_CPU_PROF=<dir> (Foyer children write V8 CPU profiles there), BENCH_DELIVERY_ITEMS
 * (emails, and webhook events, queued for the delivery section; default 2,000),
 * BENCH_SUSTAIN_MINUTES (the sustained create load; default 5, the target's length),
 * BENCH_ONLY=sessions (only the session-token loads, printed and not written to RESULTS.md),
 * BENCH_ONLY=stamina (seeds PostgreSQL, then only the start and sustained loads, printed),
 * BENCH_ONLY=query (seeds PostgreSQL, then only its list and query loads, printed),
 * BENCH_ONLY=create (seeds PostgreSQL, then only its create load, printed),
 * BENCH_ONLY=audit (seeds PostgreSQL, then only the create loads with and without the audit
 * log, BENCH_AUDIT_PAIRS pairs, default 10, printed),
 * BENCH_DB (the database the bench drops and makes on that server; default foyer_bench),
 * BENCH_USERS (users seeded on PostgreSQL for the user query; default 1,000,000),
 * BENCH_ORG_INVITATIONS (organization invitations seeded on PostgreSQL for their query; default 1,000,000),
 * BENCH_ORGANIZATIONS (organizations seeded on PostgreSQL for their query; default 1,000,000),
 * BENCH_ONLY=import (only `foyer import` of BENCH_IMPORT_ROWS rows, default 10,000, into the
 * empty PostgreSQL database, printed).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { createServices } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { systemClock } from '../src/platform/clock.js'
import { openDb } from '../src/platform/db/db.js'
import { randomToken } from '../src/platform/ids.js'
import { packageRoot } from '../src/platform/paths.js'
import { benchDelivery, startHttpCounter, startSmtpCounter, type DeliveryResult } from './delivery.js'
import { runLoad, type LoadResult, type LoadSpec } from './load.js'
import { ceilingsTable, deliveryTable, int, machine, measurementsTable, ratiosTable, targetsTable, type Measured, type Target } from './report.js'
import { seed, seededEmail, seededOrganizationSlug, seededOrgInvitationEmail, seedOrganizations, seedOrgInvitations, seededUserEmail, seedSessions, seedUsers, type Seeded } from './seed.js'
import { rs256SignsPerSecond } from './signing.js'
import { startServer, type Server } from './servers.js'
import { benchStamina, COLD_SECONDS, SUSTAIN_MINUTES, type StaminaResult } from './stamina.js'
import { benchImport, IMPORT_ROWS, IMPORT_TARGET_SECONDS, type ImportResult } from './import.js'
import { AUDIT_PAIRS, benchAudit, type AuditResult } from './audit.js'

const CONNECTIONS = 50
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const WARMUP_SECONDS = 2
const POSTGRES_ROWS = 1_000_000
const PGLITE_ROWS = Number(process.env.BENCH_PGLITE_ROWS ?? 1_000_000)
// PGlite inserts 1M rows in about 40 s on a busy 2-core machine (then builds indexes); a
// much slower machine gets fewer rows, and the report says so.
const PGLITE_SEED_BUDGET_SECONDS = 150
const BENCH_DB = process.env.BENCH_DB ?? 'foyer_bench'
if (!/^[a-z_][a-z0-9_]*$/.test(BENCH_DB)) throw new Error(`BENCH_DB must be a plain lower-case name, not ${BENCH_DB}`)
const DELIVERY_ITEMS = Number(process.env.BENCH_DELIVERY_ITEMS ?? 2_000)
// At the targets (200 emails/s, 500 webhooks/s) 2,000 items take 10 s and 4 s; a worker
// several times slower is cut off here and reported with what it delivered so far.
const DELIVERY_TIMEOUT_MS = 60_000
const EMAILS_TARGET = 200
const WEBHOOKS_TARGET = 500
const COMMAND = 'npm run bench'

const secretKey = `sk_test_${randomToken(40)}`
const serverSecret = randomBytes(32)
const tmp = mkdtempSync(join(tmpdir(), 'foyer-bench-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
process.once('SIGINT', () => process.exit(130))
process.once('SIGTERM', () => process.exit(143))

const started = performance.now()
const loadAtStart = loadavg()[0]!
const log = (line: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)

function postgresUrls(): { admin: string; bench: string } {
  const admin = new URL(process.env.BENCH_DATABASE_URL || 'postgres://root@127.0.0.1:5432')
  if (admin.pathname === '' || admin.pathname === '/') admin.pathname = '/postgres'
  const bench = new URL(admin)
  bench.pathname = `/${BENCH_DB}`
  return { admin: admin.toString(), bench: bench.toString() }
}

/** Drops and creates the bench database; returns the server's version and its autovacuum setting. */
async function recreateBenchDatabase(adminUrl: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`drop database if exists ${BENCH_DB} with (force)`)
    await admin.query(`create database ${BENCH_DB}`)
    const version = (await admin.query<{ server_version: string }>('show server_version')).rows[0]!.server_version
    // Long loads leave dead rows behind; whether autovacuum ran changes what later loads see.
    const autovacuum = (await admin.query<{ autovacuum: string }>('show autovacuum')).rows[0]!.autovacuum
    return `${version}, autovacuum ${autovacuum}`
  } finally {
    await admin.end()
  }
}

async function seedInto(label: string, options: { databaseUrl: string | null; dataDir: string | null }, rows: number, budgetSeconds?: number) {
  const db = await openDb(options)
  try {
    log(`${label}: seeding ${int(rows)} invitations with generate_series …`)
    const seeded = await seed(db, {
      secretKey, serverSecret, rows, budgetSeconds,
      progress: (done, seconds) => log(`${label}:   ${int(done)} rows inserted (${seconds.toFixed(0)} s)`),
    })
    log(`${label}: ${int(seeded.rows)} invitations, indexes rebuilt, vacuum analyze done in ${seeded.seconds.toFixed(0)} s`)
    return { db, seeded }
  } catch (err) {
    await db.close()
    throw err
  }
}

const foyerEnv = (engine: { DATABASE_URL: string } | { FOYER_DATA_DIR: string }): Record<string, string> => ({
  PORT: '0',
  HOST: '127.0.0.1',
  FOYER_DATA_DIR: join(tmp, 'foyer-data'),
  FOYER_SECRET_KEY: secretKey,
  FOYER_SECRET: serverSecret.toString('hex'),
  LOG_LEVEL: 'warn',
  // The bench's webhook receiver listens on 127.0.0.1.
  FOYER_WEBHOOK_ALLOW_PRIVATE: '1',
  ...engine,
})

const startFoyer = (name: string, env: Record<string, string>) => startServer(name, {
  args: [
    ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', resolve(process.env.BENCH_CPU_PROF)] : []),
    join(packageRoot, 'dist', 'src', 'main.js'),
  ],
  env,
  cwd: tmp,
  ready: /Foyer listening on (http:\/\/\S+)/,
})

const startBaseline = (mode: 'bare' | 'insert', env: Record<string, string> = {}) => startServer(`baseline ${mode}`, {
  args: [join(packageRoot, 'dist', 'bench', 'baseline.js'), mode],
  env: { PORT: '0', HOST: '127.0.0.1', ...env },
  cwd: tmp,
  ready: /listening on (http:\/\/\S+)/,
})

const auth = { authorization: `Bearer ${secretKey}` }
let emailSeq = 0
const runId = Date.now().toString(36)
const createBody = () => JSON.stringify({ email_address: `bench.${runId}.${emailSeq++}@example.com`, notify: false })

const createLoad = (server: Server): LoadSpec => ({
  url: server.url, method: 'POST', path: '/v1/invitations', headers: auth, body: createBody, seconds: SECONDS, connections: CONNECTIONS,
})
// Spread over a few organizations, as an instance's invitations are: creates into one
// organization take turns on its row (members plus pending invitations are counted under it).
const ORGANIZATIONS = 10
const orgInvitationLoad = (server: Server, organizationIds: string[]): LoadSpec => ({
  url: server.url, method: 'POST', headers: auth, seconds: SECONDS, connections: CONNECTIONS,
  path: `/v1/organizations/${organizationIds[0]}/invitations`,
  nextPath: () => `/v1/organizations/${organizationIds[emailSeq % organizationIds.length]}/invitations`,
  body: () => JSON.stringify({ email_address: `bench.${runId}.${emailSeq++}@example.com`, role: 'org:member', notify: false }),
})
const listLoad = (server: Server): LoadSpec => ({
  url: server.url, method: 'GET', path: '/v1/invitations?paginated=true&limit=20', headers: auth, seconds: SECONDS, connections: CONNECTIONS,
})

// A search box's traffic: fragments of seeded addresses, a last name and the first four digits
// of the number after it (`smith1234`: about five matches among a million), a new one for each
// request so that no cached answer flatters the figure.
const QUERY_FRAGMENTS = 1_000
const QUERY_CONNECTIONS = 8
function queryFragments(rows: number, email = seededEmail): string[] {
  return Array.from({ length: QUERY_FRAGMENTS }, () => {
    const n = 1_000 + Math.floor(Math.random() * Math.max(1, rows - 1_000))
    return /\.([a-z]+\d{4})/.exec(email(n))![1]!
  })
}
const queryPath = (fragment: string) => `/v1/invitations?paginated=true&limit=20&query=${encodeURIComponent(fragment)}`
const queryLoad = (server: Server, fragments: string[], path = queryPath): LoadSpec => {
  let i = 0
  return {
    url: server.url, method: 'GET', headers: auth, seconds: SECONDS, connections: QUERY_CONNECTIONS,
    path: path(fragments[0]!), nextPath: () => path(fragments[i++ % fragments.length]!),
  }
}
// Users as the dashboard's search box and `users.getUserList({ query })` ask for them: by any
// part of an address, name, username or id. Seeded addresses carry a `u` before the number
// (`anna.smithu1234@…`), so `smithu1234` finds a handful of users and no invitation's address.
const POSTGRES_USERS = Number(process.env.BENCH_USERS ?? 1_000_000)
const userQueryPath = (fragment: string) => `/v1/users?limit=20&query=${encodeURIComponent(fragment)}`
const userQueryLoad = (server: Server, users: number) => queryLoad(server, queryFragments(users, seededUserEmail), userQueryPath)
// Organization invitations across the instance, as `GET /v1/organization_invitations?query=`
// asks for them: seeded addresses carry an `o` before the number (`smitho1234`).
const POSTGRES_ORG_INVITATIONS = Number(process.env.BENCH_ORG_INVITATIONS ?? 1_000_000)
const orgInvitationQueryPath = (fragment: string) => `/v1/organization_invitations?limit=20&query=${encodeURIComponent(fragment)}`
const orgInvitationQueryLoad = (server: Server, rows: number) => queryLoad(server, queryFragments(rows, seededOrgInvitationEmail), orgInvitationQueryPath)
// Organizations as `organizations.getOrganizationList({ query })` asks for them, by name or
// slug: seeded slugs carry a `g` before the number (`anna-smithg1234`).
const POSTGRES_ORGANIZATIONS = Number(process.env.BENCH_ORGANIZATIONS ?? 1_000_000)
const organizationQueryPath = (fragment: string) => `/v1/organizations?limit=20&query=${encodeURIComponent(fragment)}`
const organizationQueryLoad = (server: Server, rows: number) => queryLoad(server, queryFragments(rows, (n) => seededOrganizationSlug(n).replace('-', '.')), organizationQueryPath)

/** One request, so that a broken setup fails here with its answer rather than as 500,000 non-2xx. */
async function probe(server: Server, spec: LoadSpec): Promise<void> {
  const res = await fetch(server.url + spec.path, {
    method: spec.method,
    headers: { ...spec.headers, ...(spec.body ? { 'content-type': 'application/json' } : {}) },
    body: spec.body?.(),
  })
  if (!res.ok) throw new Error(`${server.name}: ${spec.method} ${spec.path} answered ${res.status}: ${await res.text()}`)
}

/**
 * Probes, warms up, then loads. `options.probe` replaces the probe (a redirect is no `ok`), and
 * `options.warmup` the warm-up (a load of single-use inputs warms up on its own share of them).
 */
async function measure(server: Server, load: string, spec: LoadSpec, options: { probe?: () => Promise<void>; warmup?: LoadSpec } = {}): Promise<LoadResult> {
  await (options.probe ?? (() => probe(server, spec)))()
  await runLoad(options.warmup ?? { ...spec, seconds: WARMUP_SECONDS })
  log(`${server.name}: ${load}, ${spec.connections} connections ${spec.amount === undefined ? `for ${spec.seconds} s` : `for ${int(spec.amount)} requests`} …`)
  const result = await runLoad(spec)
  const codes = Object.entries(result.statusCodes).map(([code, n]) => `${code}×${int(n)}`).join(' ')
  log(`${server.name}: ${load}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, `
    + `${result.failures} errors/non-2xx (${codes || 'no answers'})`)
  if (result.failures > 0) log(`${server.name}: last output:\n${server.recentOutput()}`)
  return result
}

/** Runs `loads` against one server, then records its peak RSS and stops it. */
async function onServer(server: Server, loads: [string, LoadSpec, (() => Promise<void>)?][]): Promise<Measured[]> {
  try {
    const results: [string, LoadResult][] = []
    for (const [load, spec, before] of loads) {
      await before?.()
      results.push([load, await measure(server, load, spec)])
    }
    const peakRssMb = server.peakRssMb()
    log(`${server.name}: peak RSS ${peakRssMb.toFixed(0)} MB`)
    return results.map(([load, result]) => ({ load, server: server.name, result, peakRssMb }))
  } finally {
    await server.stop()
  }
}

async function liftCreateLimit(server: Server): Promise<void> {
  const res = await fetch(`${server.url}/v1/instance`, {
    method: 'PATCH',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ rate_limits: { create_invitation: 0, create_invitation_bulk: 0, create_organization_invitation: 0 } }),
  })
  if (!res.ok) throw new Error(`${server.name}: PATCH /v1/instance answered ${res.status}: ${await res.text()}`)
}

/**
 * Signs in to the dashboard as the first operator, through the setup link the server printed,
 * as a person would; answers the page to load and the cookies that carry the session.
 */
async function dashboardSession(server: Server): Promise<{ path: string; cookie: string }> {
  const link = /setup:\s+(\S+\/dashboard\/setup\?token=\S+)/.exec(server.recentOutput())?.[1]
  if (!link) throw new Error(`${server.name}: no dashboard setup link in its output:\n${server.recentOutput()}`)
  const setupUrl = new URL(link)
  const page = await fetch(`${server.url}${setupUrl.pathname}${setupUrl.search}`)
  const csrfCookie = (page.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ')
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1]
  if (!csrf) throw new Error(`${server.name}: the setup page has no CSRF token`)
  const done = await fetch(`${server.url}/dashboard/setup`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie },
    body: new URLSearchParams({ _csrf: csrf, token: setupUrl.searchParams.get('token')!, email_address: 'bench@example.com', password: 'bench password 1234' }),
  })
  const session = (done.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]!).find((c) => c.startsWith('__foyer_operator='))
  if (done.status !== 303 || !session) throw new Error(`${server.name}: dashboard setup answered ${done.status}`)
  const landing = await fetch(`${server.url}/dashboard`, { redirect: 'manual', headers: { cookie: session } })
  const instanceId = /\/dashboard\/(ins_[A-Za-z0-9]+)/.exec(landing.headers.get('location') ?? '')?.[1]
  if (!instanceId) throw new Error(`${server.name}: /dashboard answered ${landing.status} without an instance to go to`)
  return { path: `/dashboard/${instanceId}/invitations`, cookie: session }
}

async function createOrganizations(server: Server, n: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${server.url}/v1/organizations`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: `Bench ${runId} ${i}` }),
    })
    if (!res.ok) throw new Error(`${server.name}: POST /v1/organizations answered ${res.status}: ${await res.text()}`)
    ids.push(((await res.json()) as { id: string }).id)
  }
  return ids
}

async function benchFoyer(name: string, env: Record<string, string>, options: { organizations?: boolean; searchRows?: number; searchUsers?: number; searchOrgInvitations?: number; searchOrganizations?: number } = {}): Promise<Measured[]> {
  const server = await startFoyer(name, env)
  log(`${name}: pid ${server.pid} on ${server.url}`)
  await liftCreateLimit(server)
  const loads: [string, LoadSpec][] = [
    ['list (paginated, limit 20)', listLoad(server)],
    ...(options.searchRows ? [['query (paginated, limit 20)', queryLoad(server, queryFragments(options.searchRows))] as [string, LoadSpec]] : []),
    ...(options.searchUsers ? [['user query (limit 20)', userQueryLoad(server, options.searchUsers)] as [string, LoadSpec]] : []),
    ...(options.searchOrgInvitations ? [['org invitation query (limit 20)', orgInvitationQueryLoad(server, options.searchOrgInvitations)] as [string, LoadSpec]] : []),
    ...(options.searchOrganizations ? [['organization query (limit 20)', organizationQueryLoad(server, options.searchOrganizations)] as [string, LoadSpec]] : []),
    ['create', createLoad(server)],
  ]
  if (options.organizations) {
    // The dashboard's invitations page (pending tab, 20 rows, total) for an operator. One
    // connection: the target is the time the server takes for a page, not a queue of 50.
    const { path, cookie } = await dashboardSession(server)
    loads.unshift(
      ['dashboard invitations page', { url: server.url, method: 'GET', path, headers: { cookie }, seconds: SECONDS, connections: 1 }],
      ['dashboard overview page', { url: server.url, method: 'GET', path: path.replace(/\/invitations$/, '/overview'), headers: { cookie }, seconds: SECONDS, connections: 1 }],
    )
  }
  if (!options.organizations || !env.DATABASE_URL) return onServer(server, loads)
  const databaseUrl = env.DATABASE_URL
  const organizationIds = await createOrganizations(server, ORGANIZATIONS)
  return onServer(server, [...loads, ['org invitation create', orgInvitationLoad(server, organizationIds), async () => {
    // The create load leaves its events for the worker; the next load starts once they are
    // delivered, so that it does not pay for the one before.
    const drained = await waitForOutbox(databaseUrl, 120_000)
    log(`${name}: outbox drained before the next load (${drained} items left)`)
  }]])
}

/** Counts outbox items not yet delivered or failed. */
async function outboxBacklog(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: string }>(`select count(*) as n from outbox where status in ('pending', 'sending')`)
    return Number(rows[0]!.n)
  } finally {
    await client.end()
  }
}

/** Waits (at most `timeoutMs`) until the outbox holds nothing left to deliver; answers how much is left. */
async function waitForOutbox(databaseUrl: string, timeoutMs: number): Promise<number> {
  const until = performance.now() + timeoutMs
  let left = await outboxBacklog(databaseUrl)
  while (left > 0 && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    left = await outboxBacklog(databaseUrl)
  }
  return left
}

/**
 * The create load above left invitation.created events (fan-outs to no endpoint) in the
 * outbox; a fresh worker would drain those first, and they would reach the endpoint the
 * delivery section registers. They are marked delivered here, outside Foyer.
 */
async function clearCreateLoadBacklog(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rowCount } = await client.query(`
      update outbox set status = 'delivered', delivered_at = $1, claimed_until = null, updated_at = $1
      where status in ('pending', 'sending')`, [Date.now()])
    return rowCount ?? 0
  } finally {
    await client.end()
  }
}

async function benchDeliveryPostgres(databaseUrl: string): Promise<DeliveryResult[]> {
  const cleared = await clearCreateLoadBacklog(databaseUrl)
  log(`delivery: ${int(cleared)} outbox items left by the create load marked delivered`)
  const smtp = await startSmtpCounter()
  const http = await startHttpCounter()
  const name = 'Foyer, PostgreSQL'
  const server = await startFoyer(name, { ...foyerEnv({ DATABASE_URL: databaseUrl }), SMTP_URL: smtp.url })
  log(`delivery: ${name} pid ${server.pid} on ${server.url}, SMTP sink ${smtp.url}, webhook receiver ${http.url}`)
  try {
    await liftCreateLimit(server)
    return await benchDelivery({
      server, smtp, http, auth, n: DELIVERY_ITEMS, timeoutMs: DELIVERY_TIMEOUT_MS, log,
      address: () => `deliver.${runId}.${emailSeq++}@example.com`,
      outboxIdle: async () => {
        const until = performance.now() + 30_000
        while (await outboxBacklog(databaseUrl) > 0) {
          if (performance.now() > until) throw new Error(`${name}: the outbox did not drain within 30 s after the emails`)
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      },
    })
  } finally {
    await server.stop()
    await smtp.stop()
    await http.stop()
  }
}

// Sessions signed up before the token loads, which take turns over them: a session's rows are
// read by every mint of its tokens, and one hot session is not how an application's users come.
const SESSIONS = 300
// The application's page, allowed by default (http://localhost:*); the handshake returns there.
const APP_ORIGIN = 'http://localhost:5173'
const HANDSHAKE_PATH = `/v1/client/handshake?redirect_url=${encodeURIComponent(`${APP_ORIGIN}/`)}&format=nonce&suffixed_cookies=true`
// A nonce is good for 2 minutes after its handshake; older ones are left out of the payload load.
const NONCE_USABLE_MS = 90_000
const TOKENS_TARGET = 1_000
const TOKENS_P99_TARGET_MS = 50
const TOKENS_OFFERED = 1_050
const SIGN_SECONDS = 3

interface SessionsBench {
  name: string
  measured: Measured[]
  /** RS256 signatures per second in the bench process, one core, measured while Foyer was idle. */
  signsPerSecond: number
  seedSeconds: number
  /** Whether its peak RSS counts from after the sign-ups. */
  rssReset: boolean
}

// Browsers come from many addresses, and the handshake is limited per client IP (1,200 per 15
// minutes): each connection of the handshake loads comes from its own loopback address.
let browserSeq = 0
const nextBrowserAddress = () => {
  const n = browserSeq++
  return `127.1.${Math.floor(n / 254) % 256}.${(n % 254) + 1}`
}

/** A handshake's redirect, and when it came. */
interface Issued {
  location: string
  at: number
}

/** The nonce a handshake's redirect carries to the application, if it carries one. */
const nonceOf = (location: string | null | undefined) => {
  if (!location) return null
  return new URL(location).searchParams.get('__clerk_handshake_nonce')
}

/**
 * Trades a nonce as the application would, and checks that its directives sign the browser in
 * with a session token: a signed-out handshake mints nothing and would be measured as one.
 */
async function checkSignedInNonce(server: Server, nonce: string): Promise<void> {
  const res = await fetch(`${server.url}/v1/clients/handshake_payload?nonce=${encodeURIComponent(nonce)}`, { headers: auth })
  const body = await res.json() as { directives?: string[] }
  const token = body.directives?.map((d) => /^__session=([^;]+)/.exec(d)?.[1]).find(Boolean)
  if (res.status !== 200 || !token || token.split('.').length !== 3) {
    throw new Error(`${server.name}: the handshake's nonce answered ${res.status} without a session token: ${JSON.stringify(body)}`)
  }
}

/**
 * Session tokens on PostgreSQL, in a fresh Foyer process: SESSIONS people sign up with an
 * invitation's ticket; then tokens are minted through the Backend API, browsers go through
 * the handshake with their Foyer cookie (each redirect mints a token and stores a nonce), and
 * the application trades those nonces, each once.
 */
async function benchSessions(databaseUrl: string): Promise<SessionsBench> {
  const name = `Foyer, PostgreSQL (${int(SESSIONS)} sessions)`
  const server = await startFoyer(name, foyerEnv({ DATABASE_URL: databaseUrl }))
  log(`${name}: pid ${server.pid} on ${server.url}`)
  try {
    await liftCreateLimit(server)
    const seedStarted = performance.now()
    const sessions = await seedSessions({ url: server.url, secretKey, n: SESSIONS, origin: APP_ORIGIN, tag: runId })
    const seedSeconds = (performance.now() - seedStarted) / 1000
    log(`${name}: ${int(sessions.length)} people signed up with a ticket in ${seedSeconds.toFixed(1)} s`)
    // Their user.created and session.created events go out first, so that no load pays for them.
    log(`${name}: outbox drained before the loads (${await waitForOutbox(databaseUrl, 120_000)} items left)`)
    // The sign-ups' password hashes (scrypt, 32 MiB each) are not the tokens' memory.
    const signUpPeak = server.peakRssMb()
    const rssReset = server.resetPeakRss()
    log(`${name}: peak RSS ${signUpPeak.toFixed(0)} MB through the sign-ups; `
      + (rssReset ? `counted again from here (${server.peakRssMb().toFixed(0)} MB)` : 'it could not be reset, so the figure includes them'))
    const signsPerSecond = rs256SignsPerSecond(SIGN_SECONDS)
    log(`RS256 (node:crypto, RSA-2048) in the bench process, one core: ${signsPerSecond.toFixed(0)} signatures/s`)

    let turn = 0
    const next = () => sessions[turn++ % sessions.length]!
    const mint: LoadSpec = {
      url: server.url, method: 'POST', headers: auth, seconds: SECONDS, connections: CONNECTIONS,
      path: `/v1/sessions/${sessions[0]!.sessionId}/tokens`,
      nextPath: () => `/v1/sessions/${next().sessionId}/tokens`,
    }
    // The redirects' locations as they come, the warm-up's apart (parsed once the loads are
    // over, not in autocannon's loop): each nonce in them is traded once by the payload load.
    const issued: { warmup: Issued[]; measured: Issued[] } = { warmup: [], measured: [] }
    const handshake = (into: Issued[], seconds: number): LoadSpec => ({
      url: server.url, method: 'GET', path: HANDSHAKE_PATH, seconds, connections: CONNECTIONS, expect: '3xx', sourceAddress: nextBrowserAddress,
      headers: { cookie: sessions[0]!.cookie },
      nextHeaders: () => ({ cookie: next().cookie }),
      onHeaders: (headers) => {
        if (headers.location) into.push({ location: headers.location, at: Date.now() })
      },
    })
    const probeHandshake = async () => {
      const res = await fetch(server.url + HANDSHAKE_PATH, { redirect: 'manual', headers: { cookie: sessions[0]!.cookie } })
      const nonce = nonceOf(res.headers.get('location'))
      if (res.status !== 307 || !nonce) throw new Error(`${server.name}: GET ${HANDSHAKE_PATH} answered ${res.status}, location ${res.headers.get('location')}`)
      await checkSignedInNonce(server, nonce)
    }

    const results: [string, LoadResult][] = []
    results.push(['session token mint', await measure(server, 'session token mint', mint)])
    results.push(['handshake (nonce)', await measure(server, 'handshake (nonce)', handshake(issued.measured, SECONDS), {
      probe: probeHandshake, warmup: handshake(issued.warmup, WARMUP_SECONDS),
    })])
    // The targets' loads: an application's traffic at the target rate (a little above it,
    // so that answering the target is what is measured), not as many as the server can take,
    // where 50 connections queue behind each other by construction (Little's law: 50 ms at 1,000/s).
    results.push([`session token mint at ${int(TOKENS_OFFERED)}/s`, await measure(server, `session token mint at ${int(TOKENS_OFFERED)}/s`, { ...mint, rate: TOKENS_OFFERED })])
    results.push([`handshake (nonce) at ${int(TOKENS_OFFERED)}/s`, await measure(server, `handshake (nonce) at ${int(TOKENS_OFFERED)}/s`, { ...handshake([], SECONDS), rate: TOKENS_OFFERED }, {
      probe: probeHandshake, warmup: { ...handshake([], WARMUP_SECONDS), rate: TOKENS_OFFERED },
    })])

    const usable = (list: Issued[]) => list.filter((i) => i.at > Date.now() - NONCE_USABLE_MS).map((i) => nonceOf(i.location)).filter((n) => n !== null)
    const warm = usable(issued.warmup)
    const payloadSpec = (nonces: string[]): LoadSpec => {
      let i = 0
      const path = (nonce: string) => `/v1/clients/handshake_payload?nonce=${encodeURIComponent(nonce)}`
      return {
        url: server.url, method: 'GET', headers: auth, seconds: SECONDS, connections: CONNECTIONS, amount: nonces.length,
        // autocannon builds a request or so per connection it never sends: those get no nonce.
        path: path(nonces[0]!), nextPath: () => path(nonces[i++] ?? 'none-left'),
      }
    }
    const [probeNonce, ...measuredNonces] = usable(issued.measured)
    log(`${name}: handshake nonces: ${int(warm.length)} from the warm-up to warm up, 1 to probe, ${int(measuredNonces.length)} to trade`)
    if (probeNonce && measuredNonces.length > 0 && warm.length > 0) {
      results.push(['handshake payload (nonce traded once)', await measure(server, 'handshake payload', payloadSpec(measuredNonces), {
        probe: () => checkSignedInNonce(server, probeNonce),
        warmup: payloadSpec(warm),
      })])
    }

    const peakRssMb = server.peakRssMb()
    log(`${name}: peak RSS ${peakRssMb.toFixed(0)} MB`)
    return { name, measured: results.map(([load, result]) => ({ load, server: name, result, peakRssMb })), signsPerSecond, seedSeconds, rssReset }
  } finally {
    await server.stop()
  }
}

async function main() {
  const urls = postgresUrls()
  log(`PostgreSQL: recreating database ${BENCH_DB}`)
  const postgresVersion = await recreateBenchDatabase(urls.admin)
  const measured: Measured[] = []
  if (process.env.BENCH_ONLY === 'sessions') {
    await benchSessions(urls.bench)
    log('BENCH_ONLY=sessions: figures above; bench/RESULTS.md is left as it was')
    return
  }
  const importRun = (name: string) => benchImport({
    start: () => startFoyer(name, foyerEnv({ DATABASE_URL: urls.bench })), prepare: liftCreateLimit, secretKey, tmp, runId, log,
  })
  if (process.env.BENCH_ONLY === 'import') {
    const imported = await importRun('Foyer, PostgreSQL (empty)')
    log(`import target: under ${IMPORT_TARGET_SECONDS} s for ${int(IMPORT_ROWS)} rows: ${imported.seconds < IMPORT_TARGET_SECONDS && imported.rows >= 10_000 ? 'met' : 'NOT met'}`)
    log('BENCH_ONLY=import: figures above; bench/RESULTS.md is left as it was')
    return
  }

  const pgSeed = await seedInto('PostgreSQL', { databaseUrl: urls.bench, dataDir: null }, POSTGRES_ROWS)
  if (process.env.BENCH_ONLY === 'stamina') {
    await pgSeed.db.close()
    await benchStamina({
      adminUrl: urls.admin, databaseUrl: urls.bench, log, load: createLoad, prepare: liftCreateLimit,
      start: () => startFoyer('Foyer, PostgreSQL (new process)', foyerEnv({ DATABASE_URL: urls.bench })),
    })
    log('BENCH_ONLY=stamina: figures above; bench/RESULTS.md is left as it was')
    return
  }
  log(`PostgreSQL: seeding ${int(POSTGRES_USERS)} users with an address each …`)
  const users = await seedUsers(pgSeed.db, pgSeed.seeded.instanceId, POSTGRES_USERS, (done, seconds) => log(`PostgreSQL:   ${int(done)} users inserted (${seconds.toFixed(0)} s)`))
  log(`PostgreSQL: ${int(users.rows)} users, indexes rebuilt, vacuum analyze done in ${users.seconds.toFixed(0)} s`)
  log(`PostgreSQL: seeding ${int(POSTGRES_ORG_INVITATIONS)} organization invitations over 10 organizations …`)
  const orgInvitations = await seedOrgInvitations(pgSeed.db, pgSeed.seeded.instanceId, POSTGRES_ORG_INVITATIONS,
    (done, seconds) => log(`PostgreSQL:   ${int(done)} organization invitations inserted (${seconds.toFixed(0)} s)`))
  log(`PostgreSQL: ${int(orgInvitations.rows)} organization invitations, indexes rebuilt, vacuum analyze done in ${orgInvitations.seconds.toFixed(0)} s`)
  log(`PostgreSQL: seeding ${int(POSTGRES_ORGANIZATIONS)} organizations …`)
  const organizations = await seedOrganizations(pgSeed.db, pgSeed.seeded.instanceId, POSTGRES_ORGANIZATIONS,
    (done, seconds) => log(`PostgreSQL:   ${int(done)} organizations inserted (${seconds.toFixed(0)} s)`))
  log(`PostgreSQL: ${int(organizations.rows)} organizations, indexes rebuilt, vacuum analyze done in ${organizations.seconds.toFixed(0)} s`)
  const config = loadConfig({ FOYER_SECRET_KEY: secretKey })
  const baselineInstance = await createServices({ config, db: pgSeed.db, clock: systemClock(), serverSecret })
    .instances.create({ name: 'Bench baseline' })
  // A checkpoint now, rather than one triggered by the seed's WAL in the middle of a load.
  await pgSeed.db.exec('checkpoint').catch(() => log('PostgreSQL: checkpoint refused (not superuser); carrying on'))
  await pgSeed.db.close()
  if (process.env.BENCH_ONLY === 'query') {
    const server = await startFoyer('Foyer, PostgreSQL', foyerEnv({ DATABASE_URL: urls.bench }))
    await onServer(server, [
      ['list (paginated, limit 20)', listLoad(server)],
      ['query (paginated, limit 20)', queryLoad(server, queryFragments(pgSeed.seeded.rows))],
      ['user query (limit 20)', userQueryLoad(server, users.rows)],
      ['org invitation query (limit 20)', orgInvitationQueryLoad(server, orgInvitations.rows)],
      ['organization query (limit 20)', organizationQueryLoad(server, organizations.rows)],
    ])
    log('BENCH_ONLY=query: figures above; bench/RESULTS.md is left as it was')
    return
  }
  const auditRun = async () => {
    const name = `Foyer, PostgreSQL (${int(pgSeed.seeded.rows)}+ inv., audit on and off)`
    const server = await startFoyer(name, foyerEnv({ DATABASE_URL: urls.bench }))
    try {
      await liftCreateLimit(server)
      await probe(server, createLoad(server))
      const audit = await benchAudit({ databaseUrl: urls.bench, load: () => createLoad(server), drain: () => waitForOutbox(urls.bench, 120_000), log, name, foyerPid: server.pid })
      log(`${name}: create with the audit log ÷ without: ${audit.rps.on.toFixed(0)} ÷ ${audit.rps.off.toFixed(0)} req/s = ${(audit.rps.on / audit.rps.off * 100).toFixed(0)} %`)
      for (const side of ['on', 'off'] as const) {
        const c = audit.cost[side]
        log(`${name}: per create, audit ${side}: Foyer ${c.foyerUs.toFixed(0)} µs CPU, PostgreSQL ${c.postgresUs.toFixed(0)} µs CPU, WAL ${c.walBytes.toFixed(0)} bytes`)
      }
      return { name, audit, peakRssMb: server.peakRssMb() }
    } finally {
      await server.stop()
    }
  }
  if (process.env.BENCH_ONLY === 'audit') {
    await auditRun()
    log('BENCH_ONLY=audit: figures above; bench/RESULTS.md is left as it was')
    return
  }
  if (process.env.BENCH_ONLY === 'create') {
    const server = await startFoyer('Foyer, PostgreSQL', foyerEnv({ DATABASE_URL: urls.bench }))
    await liftCreateLimit(server)
    await onServer(server, [['create', createLoad(server)]])
    log('BENCH_ONLY=create: figures above; bench/RESULTS.md is left as it was')
    return
  }

  const foyerPg = `Foyer, PostgreSQL (${int(pgSeed.seeded.rows)} inv.)`
  measured.push(...await benchFoyer(foyerPg, foyerEnv({ DATABASE_URL: urls.bench }), { organizations: true, searchRows: pgSeed.seeded.rows, searchUsers: users.rows, searchOrgInvitations: orgInvitations.rows, searchOrganizations: organizations.rows }))

  const bare = await startBaseline('bare')
  measured.push(...await onServer(bare, [['create', createLoad(bare)]]))
  const insert = await startBaseline('insert', { DATABASE_URL: urls.bench, BASELINE_INSTANCE_ID: baselineInstance.instance.id })
  measured.push(...await onServer(insert, [['create', createLoad(insert)]]))
  await dropInstance(urls.bench, baselineInstance.instance.id)

  const audited = await auditRun()
  measured.push(...auditRows(audited))

  const sessions = await benchSessions(urls.bench)
  measured.push(...sessions.measured)

  const delivered = await benchDeliveryPostgres(urls.bench)
  const imported = await importRun(`Foyer, PostgreSQL (${int(pgSeed.seeded.rows)}+ inv., import)`)

  const pgliteDir = join(tmp, 'pglite')
  const pgliteSeed = await seedInto('PGlite', { databaseUrl: null, dataDir: join(pgliteDir, 'pgdata') }, PGLITE_ROWS, PGLITE_SEED_BUDGET_SECONDS)
  await pgliteSeed.db.close()
  if (pgliteSeed.seeded.rows < PGLITE_ROWS) {
    log(`PGlite: the seed budget (${PGLITE_SEED_BUDGET_SECONDS} s) ran out: PGlite holds ${int(pgliteSeed.seeded.rows)} invitations, NOT ${int(PGLITE_ROWS)}`)
  }
  const foyerPglite = `Foyer, PGlite (${int(pgliteSeed.seeded.rows)} inv.)`
  measured.push(...await benchFoyer(foyerPglite, foyerEnv({ FOYER_DATA_DIR: pgliteDir })))

  // Last: its 6 minutes of creates leave millions of rows behind, and autovacuum, once on, may
  // still be at work on them for minutes after it is turned off again.
  const staminaName = `Foyer, PostgreSQL (${int(pgSeed.seeded.rows)}+ inv., new process)`
  const stamina = await benchStamina({
    adminUrl: urls.admin, databaseUrl: urls.bench, log, load: createLoad, prepare: liftCreateLimit,
    start: () => startFoyer(staminaName, foyerEnv({ DATABASE_URL: urls.bench })),
  })
  measured.push(
    { load: `create, first ${COLD_SECONDS} s after a start`, server: staminaName, result: stamina.cold, peakRssMb: stamina.peakRssMb },
    ...stamina.minutes.map((result, i) => ({ load: `create, sustained minute ${i + 1} of ${SUSTAIN_MINUTES}`, server: staminaName, result, peakRssMb: stamina.peakRssMb })),
  )

  const report = summarise(measured, delivered, { foyerPg, foyerPglite, bare: bare.name, insert: insert.name, stamina: staminaName }, pgSeed.seeded, pgliteSeed.seeded, sessions, stamina, users.rows, orgInvitations.rows, organizations.rows, imported, audited)
  const lines = [
    '# Foyer benchmark results',
    '',
    `Command: \`${COMMAND}\``,
    '',
    ...machine(postgresVersion, loadAtStart).map((line) => `- ${line}`),
    '',
    `Each load: autocannon in the bench process (no workers), ${CONNECTIONS} connections unless said otherwise, ${SECONDS} s after a ${WARMUP_SECONDS} s warm-up, `
      + 'over 127.0.0.1; every server in its own process (Foyer with LOG_LEVEL=warn). '
      + `Create posts a unique address with \`notify: false\`, rate limit lifted; list is \`GET /v1/invitations?paginated=true&limit=20\`. `
      + `Query (PostgreSQL) is \`GET /v1/invitations?paginated=true&limit=20&query=<fragment>\` (the page and its total), over ${QUERY_CONNECTIONS} connections, `
      + `each request with the next of ${int(QUERY_FRAGMENTS)} fragments of seeded addresses, a last name and the first four digits of the number after it (\`smith1234\`, a handful of matches each). `
      + `User query (PostgreSQL) is \`GET /v1/users?limit=20&query=<fragment>\` over ${int(users.rows)} users, each with a first and last name and one verified address, the same way (\`smithu1234\`: their addresses have a \`u\` before the number); it matches ids, addresses, usernames and full names. `
      + `Org invitation query (PostgreSQL) is \`GET /v1/organization_invitations?limit=20&query=<fragment>\` (the instance's, with their total) over ${int(orgInvitations.rows)} organization invitations spread over 10 organizations, a third each pending, accepted and revoked, the same way (\`smitho1234\`). `
      + `Organization query (PostgreSQL) is \`GET /v1/organizations?limit=20&query=<fragment>\` (with their total) over ${int(organizations.rows)} organizations, each named like \`Anna Smith Group 1234567\` with a slug like \`anna-smithg1234567\`, the same way (\`smithg1234\`); it matches ids, names and slugs. `
      + `Org invitation create (PostgreSQL) posts a unique address with \`role: org:member\`, \`notify: false\` to \`POST /v1/organizations/{id}/invitations\`, rotating over ${ORGANIZATIONS} organizations, once the outbox has delivered the create load's events. `
      + `The dashboard invitations page (PostgreSQL) is \`GET /dashboard/<instance>/invitations\` (pending tab, 20 rows and the total) with an operator's session cookie, one connection (one request at a time: the time a page takes the server); the overview page (\`GET /dashboard/<instance>/overview\`, 30 days of created, accepted, revoked and expired counts over the same invitations) likewise. `
      + `Baselines: a bare Fastify route returning the create JSON without a database, and one with one \`insert … returning *\` through a pg Pool (16 clients, as Foyer) into the same table on the same PostgreSQL.`,
    '',
    `Seeding (generate_series, indexes rebuilt, vacuum analyze): PostgreSQL ${int(pgSeed.seeded.rows)} invitations in ${pgSeed.seeded.seconds.toFixed(0)} s and ${int(users.rows)} users in ${users.seconds.toFixed(0)} s; `
      + `PGlite ${int(pgliteSeed.seeded.rows)} in ${pgliteSeed.seeded.seconds.toFixed(0)} s`
      + (pgliteSeed.seeded.rows < PGLITE_ROWS ? ` (**not ${int(PGLITE_ROWS)}**: the ${PGLITE_SEED_BUDGET_SECONDS} s seed budget ran out).` : '.'),
    '',
    `Start and stamina (autovacuum ${stamina.autovacuum}): a new Foyer process on the same PostgreSQL database, after every other load (PGlite included); once it listens, the create limit is lifted `
      + `(its only request before the load) and the create load runs for its first ${COLD_SECONDS} s with no probe and no warm-up; then ${SUSTAIN_MINUTES} `
      + 'one-minute create loads back to back on the same process, the first of which is its warm rate (the create line above ran on the freshly seeded database). '
      + 'Each create also queues its invitation.created event (fanned out to no endpoint), which the outbox worker marks delivered meanwhile.',
    '',
    `Audit log: a fresh Foyer process on the same PostgreSQL database runs the create load ${AUDIT_PAIRS * 2} times, with the audit log written and without, in turns `
      + '(off, on, on, off, …, so that a drift over the run falls on both sides alike), each after a 2 s warm-up and once the outbox has delivered the load before. '
      + 'Every create\'s record is kept in its event\'s outbox row by a trigger on the outbox, in the statement that queues the event, and moved into the log '
      + 'by the outbox worker\'s claim of the event, in the same process during the load (the drain after each load is not timed, on either side); "off" disables that trigger '
      + '(`ALTER TABLE outbox DISABLE TRIGGER outbox_audit`, enabled again afterwards), which leaves the create as it was before the log existed, and the claim with no record to move.',
    '',
    `Delivery: a fresh Foyer process on the same PostgreSQL database (default outbox worker), SMTP_URL at an SMTP sink and `
      + 'one webhook endpoint at an HTTP receiver, both in the bench process (they accept, count by Message-ID or svix-id, '
      + `discard; the receiver answers 204 without verifying). Emails: ${int(DELIVERY_ITEMS)} invitations by bulk creates of 10 `
      + `with \`notify: true\` (each also queues its invitation.created event, fanned out to no endpoint); webhooks: ${int(DELIVERY_ITEMS)} `
      + 'with `notify: false`, one endpoint. Both sinks start closed: one item is queued and held at the sink, so the worker '
      + 'waits in its batch while the rest is queued; the time runs from opening the sink to the last distinct item received.',
    '',
    `Import: \`foyer import\` (the compiled tool, a child process of the bench) of a CSV file of ${int(imported.rows)} new addresses with \`--no-email\`, `
      + `bulk creates of 10, ${imported.concurrency} in flight, into a fresh Foyer process on the seeded PostgreSQL database with the instance's rate limits lifted; `
      + 'timed from starting the tool to its exit (its result file written, every row created).',
    '',
    `Session tokens: a fresh Foyer process on the same PostgreSQL database, where ${int(SESSIONS)} people first sign up as the product signs them up `
      + '(an invitation created through the Backend API, redeemed by `POST /v1/client/sign_ups` with `strategy: ticket` and a password on the Frontend API; '
      + `${sessions.seedSeconds.toFixed(0)} s for all, four at a time, mostly scrypt; its peak RSS is counted ${sessions.rssReset ? 'from after them' : 'with them (it could not be reset)'}); `
      + 'each load takes turns over their sessions. Token mint is `POST /v1/sessions/{id}/tokens` with the secret key: the session is read, '
      + 'and one RS256 JWT (RSA-2048, 60 s) is signed. Handshake is what an application\'s middleware sends a browser to, '
      + `\`GET /v1/client/handshake?redirect_url=${APP_ORIGIN}/&format=nonce&suffixed_cookies=true\` with the browser's \`__foyer_session\` cookie: `
      + 'the session is read, a token minted, the Set-Cookie directives stored under a new nonce (an insert shared by concurrent handshakes, committed without waiting for the WAL flush), and the answer is a 307 to the application '
      + '(anything but 3xx counts as an error). Browsers come from many addresses and the handshake is limited to 1,200 per client IP '
      + 'in 15 minutes, so each connection comes from its own loopback address (127.1.x.y) and reconnects from the next one every 500 requests. '
      + 'The handshake payload is the application\'s half, `GET /v1/clients/handshake_payload?nonce=` with '
      + 'the secret key: nonces are single-use, so it trades each nonce the measured handshake load issued exactly once (those of the handshake\'s '
      + 'warm-up warm it up), as many requests as nonces rather than a fixed time. The RS256 ceiling is node:crypto signing a session token\'s '
      + `\`header.payload\` in a loop on one thread of the bench process for ${SIGN_SECONDS} s, right before these loads: no endpoint can mint more `
      + 'tokens per core than that. Foyer signs on libuv\'s thread pool, so its signatures can use both cores, which the bench and PostgreSQL share. '
      + `The mint and handshake loads run twice: as fast as ${CONNECTIONS} connections go (capacity), and at ${int(TOKENS_OFFERED)} requests/s, an application's steady traffic `
      + `just above the target, which the targets below are judged on: requests evenly paced (one every ${(1000 / TOKENS_OFFERED).toFixed(2)} ms, over up to ${CONNECTIONS} connections, through undici), `
      + 'sent when due whether or not earlier ones were answered, each latency counted from when its request was due. At full speed the connections queue behind each other by '
      + 'construction, so that latency says how long the queue is rather than how long a token takes; autocannon\'s own rate limit sends each connection\'s quota for a second '
      + 'back to back, which measures the same queue in bursts.',
    '',
    'On this 2-core virtual machine, the load generator, the server under test and PostgreSQL share the cores, and the same build '
      + 'measured up to ±20 % apart between runs; compare the ratios of one run rather than figures across runs.',
    '',
    ...report,
    '',
  ]
  process.stdout.write('\n' + lines.join('\n'))
  writeFileSync(join(packageRoot, 'bench', 'RESULTS.md'), lines.join('\n'))
  log('written to bench/RESULTS.md')
  if (measured.some((m) => m.result.failures > 0) || delivered.some((d) => d.received < d.queued)) process.exitCode = 1
}

type Audited = { name: string; audit: AuditResult; peakRssMb: number }

/** Each of the alternating loads, in the order they ran. */
const auditRows = ({ name, audit, peakRssMb }: Audited): Measured[] => audit.runs.map(({ withAudit, result }, i) => (
  { load: `create, audit log ${withAudit ? 'on' : 'off'} (${i + 1} of ${audit.runs.length})`, server: name, result, peakRssMb }))

async function dropInstance(databaseUrl: string, instanceId: string) {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query('delete from instances where id = $1', [instanceId])
  } finally {
    await client.end()
  }
}

function summarise(measured: Measured[], delivered: DeliveryResult[], names: { foyerPg: string; foyerPglite: string; bare: string; insert: string; stamina: string }, pgSeed: Seeded, pgliteSeed: Seeded, sessions: SessionsBench, stamina: StaminaResult, usersSeeded: number, orgInvitationsSeeded: number, organizationsSeeded: number, imported: ImportResult, audited: Audited): string[] {
  const find = (server: string, load: string) => measured.find((m) => m.server === server && m.load.startsWith(load))
  const valid = (m: Measured | undefined) => (m && m.result.failures === 0 ? m : undefined)
  const ratio = (a: Measured | undefined, b: Measured | undefined) => (valid(a) && valid(b) ? a!.result.rps / b!.result.rps : null)

  const bare = find(names.bare, 'create')
  const insert = find(names.insert, 'create')
  const ratios = [names.foyerPg, names.foyerPglite].flatMap((server) => [
    { name: `${server} create ÷ one-row insert`, value: ratio(find(server, 'create'), insert) },
    { name: `${server} create ÷ bare`, value: ratio(find(server, 'create'), bare) },
    { name: `${server} list ÷ bare`, value: ratio(find(server, 'list'), bare) },
  ])
  const orgCreate = find(names.foyerPg, 'org invitation create')
  if (orgCreate) {
    ratios.push(
      { name: `${names.foyerPg} org invitation create ÷ app invitation create`, value: ratio(orgCreate, find(names.foyerPg, 'create')) },
      { name: `${names.foyerPg} org invitation create ÷ one-row insert`, value: ratio(orgCreate, insert) },
    )
  }

  const mint = find(sessions.name, 'session token mint')
  const handshake = find(sessions.name, 'handshake (nonce)')
  const perSign = (m: Measured | undefined) => (valid(m) ? m!.result.rps / sessions.signsPerSecond : null)
  ratios.push(
    { name: `${sessions.name} session token mint ÷ bare`, value: ratio(mint, bare) },
    { name: `${sessions.name} session token mint ÷ RS256 signatures in one core (in-process)`, value: perSign(mint) },
    { name: `${sessions.name} handshake ÷ RS256 signatures in one core (in-process)`, value: perSign(handshake) },
    { name: `${sessions.name} handshake ÷ session token mint`, value: ratio(handshake, mint) },
  )
  const warmCreate = valid(find(names.foyerPg, 'create'))
  const firstMinute = stamina.minutes[0]
  const lastMinute = stamina.minutes[stamina.minutes.length - 1]
  // Warm is the same process's first full minute, right after: the same database, as full and
  // as dead-rowed, and the same autovacuum. The create line above ran on the freshly seeded
  // database with autovacuum off, so against it a start would also be charged for those.
  const cold = stamina.cold.failures === 0 && firstMinute && firstMinute.failures === 0 ? stamina.cold.rps / firstMinute.rps : null
  const sustained = firstMinute && lastMinute && stamina.minutes.every((m) => m.failures === 0) ? lastMinute.rps / firstMinute.rps : null
  ratios.push(
    { name: `${names.stamina} create, first ${COLD_SECONDS} s after a start ÷ its first sustained minute (warm)`, value: cold },
    { name: `${names.stamina} create, first ${COLD_SECONDS} s after a start ÷ ${names.foyerPg} create (fresh database, autovacuum as the server has it)`, value: stamina.cold.failures === 0 && warmCreate ? stamina.cold.rps / warmCreate.result.rps : null },
    { name: `${names.stamina} create, sustained: last minute ÷ first minute (autovacuum ${stamina.autovacuum.split(' ')[0]})`, value: sustained },
  )
  const auditValid = audited.audit.runs.every((r) => r.result.failures === 0)
  const auditRatio = auditValid ? audited.audit.rps.on / audited.audit.rps.off : null
  ratios.push({ name: `${audited.name} create with the audit log ÷ without (mean of ${AUDIT_PAIRS} alternating loads each)`, value: auditRatio })
  const tokensTarget = (load: string, m: Measured | undefined): Target => ({
    name: `${load} on PostgreSQL, ${int(TOKENS_OFFERED)}/s offered over ${CONNECTIONS} connections`,
    threshold: `≥ ${int(TOKENS_TARGET)} tokens/s answered, p99 ≤ ${TOKENS_P99_TARGET_MS} ms`,
    measured: valid(m) ? `${m!.result.rps.toFixed(0)}/s, p99 ${m!.result.p99} ms` : null,
    met: !!valid(m) && m!.result.rps >= TOKENS_TARGET && m!.result.p99 <= TOKENS_P99_TARGET_MS,
  })

  const createPg = ratio(find(names.foyerPg, 'create'), insert)
  const dashboardPg = valid(find(names.foyerPg, 'dashboard invitations page'))
  const overviewPg = valid(find(names.foyerPg, 'dashboard overview page'))
  const listPg = valid(find(names.foyerPg, 'list'))
  const queryPg = valid(find(names.foyerPg, 'query'))
  const userQueryPg = valid(find(names.foyerPg, 'user query'))
  const orgInvitationQueryPg = valid(find(names.foyerPg, 'org invitation query'))
  const organizationQueryPg = valid(find(names.foyerPg, 'organization query'))
  const rss = (server: string) => find(server, 'create')?.peakRssMb ?? NaN
  const targets: Target[] = [
    {
      name: 'create on PostgreSQL vs one-row insert',
      threshold: '≥ 50 % of its req/s',
      measured: createPg === null ? null : `${(createPg * 100).toFixed(0)} %`,
      met: createPg !== null && createPg >= 0.5,
    },
    {
      name: `list p99 on PostgreSQL, ${int(pgSeed.rows)} invitations`,
      threshold: '≤ 25 ms',
      measured: listPg ? `${listPg.result.p99} ms` : null,
      met: !!listPg && listPg.result.p99 <= 25 && pgSeed.rows >= 1_000_000,
    },
    {
      name: `query p99 on PostgreSQL, ${int(pgSeed.rows)} invitations`,
      threshold: '≤ 25 ms',
      measured: queryPg ? `${queryPg.result.p99} ms` : null,
      met: !!queryPg && queryPg.result.p99 <= 25 && pgSeed.rows >= 1_000_000,
    },
    {
      name: `user query p99 on PostgreSQL, ${int(usersSeeded)} users`,
      threshold: '≤ 25 ms',
      measured: userQueryPg ? `${userQueryPg.result.p99} ms` : null,
      met: !!userQueryPg && userQueryPg.result.p99 <= 25 && usersSeeded >= 1_000_000,
    },
    {
      name: `organization invitation query p99 on PostgreSQL, ${int(orgInvitationsSeeded)} organization invitations`,
      threshold: '≤ 25 ms',
      measured: orgInvitationQueryPg ? `${orgInvitationQueryPg.result.p99} ms` : null,
      met: !!orgInvitationQueryPg && orgInvitationQueryPg.result.p99 <= 25 && orgInvitationsSeeded >= 1_000_000,
    },
    {
      name: `organization query p99 on PostgreSQL, ${int(organizationsSeeded)} organizations`,
      threshold: '≤ 25 ms',
      measured: organizationQueryPg ? `${organizationQueryPg.result.p99} ms` : null,
      met: !!organizationQueryPg && organizationQueryPg.result.p99 <= 25 && organizationsSeeded >= 1_000_000,
    },
    {
      name: `dashboard invitations page p99 on PostgreSQL, ${int(pgSeed.rows)} invitations`,
      threshold: '≤ 300 ms',
      measured: dashboardPg ? `${dashboardPg.result.p99} ms` : null,
      met: !!dashboardPg && dashboardPg.result.p99 <= 300 && pgSeed.rows >= 1_000_000,
    },
    {
      name: `dashboard overview page p99 on PostgreSQL, ${int(pgSeed.rows)} invitations`,
      threshold: '≤ 300 ms',
      measured: overviewPg ? `${overviewPg.result.p99} ms` : null,
      met: !!overviewPg && overviewPg.result.p99 <= 300 && pgSeed.rows >= 1_000_000,
    },
    { name: 'Foyer peak RSS on PostgreSQL', threshold: '≤ 250 MB', measured: `${rss(names.foyerPg).toFixed(0)} MB`, met: rss(names.foyerPg) <= 250 },
    {
      name: `Foyer peak RSS on PGlite (${int(pgliteSeed.rows)} invitations)`,
      threshold: '≤ 500 MB',
      measured: `${rss(names.foyerPglite).toFixed(0)} MB`,
      met: rss(names.foyerPglite) <= 500,
    },
    {
      name: `create on PostgreSQL, the first ${COLD_SECONDS} s after a start, vs the same process's first sustained minute`,
      threshold: '≥ 90 % of its req/s',
      measured: cold === null ? null : `${(cold * 100).toFixed(0)} %`,
      met: cold !== null && cold >= 0.9,
    },
    {
      name: `create on PostgreSQL sustained for ${SUSTAIN_MINUTES} minutes, autovacuum ${stamina.autovacuum}`,
      threshold: 'last minute within 10 % of the first',
      measured: sustained === null ? null : `${firstMinute!.rps.toFixed(0)} → ${lastMinute!.rps.toFixed(0)} req/s (${((sustained - 1) * 100).toFixed(0)} %)`,
      met: sustained !== null && sustained >= 0.9 && SUSTAIN_MINUTES >= 5 && stamina.autovacuum.startsWith('on'),
    },
    {
      name: 'create on PostgreSQL with the audit log vs without (the same process, alternating loads)',
      threshold: 'within 10 % of its req/s',
      measured: auditRatio === null ? null : `${audited.audit.rps.off.toFixed(0)} → ${audited.audit.rps.on.toFixed(0)} req/s (${((auditRatio - 1) * 100).toFixed(0)} %)`,
      met: auditRatio !== null && auditRatio >= 0.9,
    },
    tokensTarget('session token mint', find(sessions.name, `session token mint at ${int(TOKENS_OFFERED)}/s`)),
    tokensTarget('handshake (redirect with a nonce)', find(sessions.name, `handshake (nonce) at ${int(TOKENS_OFFERED)}/s`)),
    ...([['emails', EMAILS_TARGET], ['webhook deliveries', WEBHOOKS_TARGET]] as const).map(([what, target]): Target => {
      const d = delivered.find((r) => r.what === what)
      const complete = !!d && d.received >= d.queued
      return {
        name: `${what} per second on PostgreSQL`,
        threshold: `≥ ${target}/s`,
        measured: d ? (complete ? `${d.perSecond.toFixed(0)}/s` : `${int(d.received)} of ${int(d.queued)} in ${DELIVERY_TIMEOUT_MS / 1000} s`) : null,
        met: complete && d.perSecond >= target,
      }
    }),
    {
      name: `\`foyer import\` of ${int(imported.rows)} rows on PostgreSQL, rate limits lifted`,
      threshold: `< ${IMPORT_TARGET_SECONDS} s`,
      measured: `${imported.seconds.toFixed(1)} s (${(imported.rows / imported.seconds).toFixed(0)} rows/s)`,
      met: imported.seconds < IMPORT_TARGET_SECONDS && imported.rows >= 10_000,
    },
  ]
  return [
    ...measurementsTable(measured), '',
    ...ceilingsTable([{ name: `RS256 signature (node:crypto, RSA-2048), bench process, one core, ${SIGN_SECONDS} s while Foyer was idle`, perSecond: sessions.signsPerSecond }]), '',
    ...deliveryTable(delivered), '', ...staminaTable(stamina), '', ...auditCostTable(audited), '', ...ratiosTable(ratios), '', ...targetsTable(targets),
  ]
}

/** What one create costs with the audit log and without, over all of each side's loads. */
function auditCostTable({ audit }: Audited): string[] {
  const row = (side: 'on' | 'off') => {
    const c = audit.cost[side]
    const loads = audit.runs.filter((r) => r.withAudit === (side === 'on')).length
    return `| ${side} | ${loads} | ${audit.rps[side].toFixed(0)} | ${c.foyerUs.toFixed(0)} | ${c.postgresUs.toFixed(0)} | ${c.walBytes.toFixed(0)} |`
  }
  return [
    '| create, audit log | loads | req/s (mean) | Foyer CPU µs per create | PostgreSQL CPU µs per create | WAL bytes per create |',
    '|---|---:|---:|---:|---:|---:|',
    row('on'), row('off'),
  ]
}

/** Where the sustained minutes' time went, so that a slower last minute can be told apart from a slower Foyer. */
function staminaTable(stamina: StaminaResult): string[] {
  return [
    '| sustained minute | req/s | Foyer CPU s | PostgreSQL CPU s | autovacuum s (tables) | WAL MB | checkpoints | buffer misses ‰ | invitations + indexes MB | dead rows: invitations, outbox |',
    '|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|',
    ...stamina.minutes.map((m, i) => {
      const w = stamina.watched[i]!
      return `| ${i + 1} | ${m.rps.toFixed(0)} | ${w.foyerCpuSeconds.toFixed(1)} | ${w.postgresCpuSeconds.toFixed(1)} | ${w.autovacuumSeconds} (${w.autovacuumTables.join(', ') || 'none'}) `
        + `| ${w.walMb.toFixed(0)} | ${w.checkpoints} | ${w.readsPerThousandHits.toFixed(1)} | ${w.invitationsMb.toFixed(0)} + ${w.invitationIndexesMb.toFixed(0)} | ${int(w.deadInvitations)}, ${int(w.deadOutbox)} |`
    }),
  ]
}

// Exit explicitly: the 'exit' handlers then kill any server still running and remove the temp folder.
main().then(() => process.exit(), (err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
