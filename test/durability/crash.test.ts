/**
 * SIGKILL in the middle of a burst of creates, then a restart on the same data: every
 * invitation the server acknowledged is still there, and nothing is half-written.
 *
 * Runs against a real child process because only a real process can be killed without
 * running any of its shutdown code; app.inject could not show this.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { openDb, type Db } from '../../src/platform/db/db.js'
import { createPostgresDatabase, postgresUrl, type Engine } from '../helpers/databases.js'
import { killAllFoyers, randomSecretKey, randomServerSecret, startFoyer, type FoyerProcess, api } from '../helpers/child-server.js'

// Enough acknowledged creates that the kill lands in steady state, not in the first few.
const ACK_TARGET = 150
const CONCURRENCY = 24
// Bounds every phase, so that a wedged server fails the test instead of hanging it.
const REQUEST_TIMEOUT_MS = 10_000
const BURST_TIMEOUT_MS = 30_000

interface BurstResult {
  /** id → email of every create answered 200, including answers read after the kill. */
  acked: Map<string, string>
  ackedBeforeKill: number
  /** Emails whose create was sent but never answered: they may or may not exist. */
  unanswered: Set<string>
  inFlightAtKill: number
  /** Any HTTP answer other than 200: nothing but 200 or a dropped connection is expected. */
  unexpected: string[]
}

/**
 * Keeps CONCURRENCY creates in flight until ACK_TARGET are acknowledged, then calls `kill`
 * synchronously from that answer's callback, so that the other requests are still on the
 * wire or inside the server's transaction when it dies.
 */
async function burstUntilKilled(server: FoyerProcess, secretKey: string, tag: string, kill: () => void): Promise<BurstResult> {
  const acked = new Map<string, string>()
  const unanswered = new Set<string>()
  const unexpected: string[] = []
  let killed = false
  let inFlight = 0
  let inFlightAtKill = -1
  let ackedBeforeKill = 0
  let seq = 0

  const doKill = () => {
    if (killed) return
    killed = true
    inFlightAtKill = inFlight
    ackedBeforeKill = acked.size
    kill()
  }
  const deadline = setTimeout(doKill, BURST_TIMEOUT_MS)

  const worker = async () => {
    while (!killed) {
      const email = `crash.${tag}.${seq++}@example.com`
      unanswered.add(email)
      inFlight++
      let status: number
      let text: string
      try {
        const res = await fetch(`${server.baseUrl}/v1/invitations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ email_address: email, notify: true }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        })
        status = res.status
        text = await res.text()
      } catch {
        // A connection the kill dropped: the create's fate is unknown, which is what this test is about.
        continue
      } finally {
        inFlight--
      }
      unanswered.delete(email)
      if (status === 200) {
        const body = JSON.parse(text) as { id: string; email_address: string }
        acked.set(body.id, body.email_address)
        if (acked.size >= ACK_TARGET) doKill()
      } else {
        unexpected.push(`${status} ${text}`)
        // A refusal (a 429, say) would repeat for every request: end the burst now and let the assertions say why.
        doKill()
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  clearTimeout(deadline)
  return { acked, ackedBeforeKill, unanswered, inFlightAtKill, unexpected }
}


interface Listed { id: string; email_address: string; status: string }

/** Every pending invitation, page by page, and the total_count the sharded counts report. */
async function listAllPending(server: FoyerProcess, secretKey: string): Promise<{ items: Listed[]; totalCount: number }> {
  const items: Listed[] = []
  let totalCount = -1
  for (let offset = 0; ; offset += 500) {
    const page = await api<{ data: Listed[]; total_count: number }>(server, secretKey, 'GET',
      `/v1/invitations?paginated=true&status=pending&order_by=created_at&limit=500&offset=${offset}`)
    totalCount = page.total_count
    items.push(...page.data)
    if (page.data.length < 500) break
  }
  return { items, totalCount }
}

/** Internal consistency that the API cannot show: outbox rows and counts beside each invitation. */
async function checkDatabase(db: Db, expectedIds: Set<string>) {
  const rows = await db.query<{ id: string; notify: boolean; status: string }>('select id, notify, status from invitations')
  assert.deepEqual(new Set(rows.map((r) => r.id)), expectedIds, 'the database holds exactly the invitations the API listed')
  assert.ok(rows.every((r) => r.notify && r.status === 'pending'))

  const withoutEvent = await db.query<{ id: string }>(`
    select i.id from invitations i where not exists (
      select 1 from outbox o where o.subject_id = i.id and o.kind = 'webhook' and o.topic = 'invitation.created')`)
  assert.deepEqual(withoutEvent, [], 'every invitation has its invitation.created outbox row')

  const withoutEmail = await db.query<{ id: string }>(`
    select i.id from invitations i where i.notify and not exists (
      select 1 from outbox o where o.subject_id = i.id and o.kind = 'email')`)
  assert.deepEqual(withoutEmail, [], 'every notified invitation has its email outbox row')

  const orphans = await db.query<{ id: string }>(`
    select o.id from outbox o where o.subject_id is not null and not exists (select 1 from invitations i where i.id = o.subject_id)`)
  assert.deepEqual(orphans, [], 'no outbox row outlives a rolled-back invitation')

  const counted = await db.query<{ status: string; n: number }>(`select status, sum(n)::int8 as n from invitation_counts group by status having sum(n) <> 0 order by status`)
  const actual = await db.query<{ status: string; n: number }>(`select status, count(*)::int8 as n from invitations group by status order by status`)
  assert.deepEqual(counted, actual, 'invitation_counts matches the invitation rows')
}

/**
 * What the API must show after a restart: every acknowledged invitation pending with its
 * email, nothing that was not asked for, no address twice, and a total_count (from the
 * sharded counts) that agrees with the rows.
 */
async function checkThroughApi(server: FoyerProcess, secretKey: string, acked: Map<string, string>, unanswered: Set<string>): Promise<Listed[]> {
  const { items, totalCount } = await listAllPending(server, secretKey)
  const listed = new Map(items.map((i) => [i.id, i]))

  const lost = [...acked].filter(([id, email]) => listed.get(id)?.email_address !== email || listed.get(id)?.status !== 'pending')
  assert.equal(lost.length, 0, `${lost.length} of ${acked.size} acknowledged invitations are missing, changed or not pending after the restart, ` +
    `e.g. ${JSON.stringify(lost.slice(0, 3).map(([id, email]) => ({ id, email, found: listed.get(id) ?? null })))}`)
  // The exact-id query too, the way a client would look one up.
  const [someId, someEmail] = [...acked].at(-1)!
  const found = await api<Listed[]>(server, secretKey, 'GET', `/v1/invitations?query=${someId}&status=pending`)
  assert.deepEqual(found.map((i) => [i.id, i.email_address]), [[someId, someEmail]])

  // The only extra invitations allowed are creates whose answer the kill swallowed.
  const extra = items.filter((i) => !acked.has(i.id))
  assert.deepEqual(extra.filter((i) => !unanswered.has(i.email_address)), [], 'no invitation appeared that was not asked for')
  assert.equal(new Set(items.map((i) => i.email_address)).size, items.length, 'no address was invited twice')
  assert.equal(totalCount, items.length, 'total_count (sharded counts) equals the number of invitations')
  return items
}

// On PGlite, two kills: the second lands on a data folder that has itself been through crash
// recovery. On PostgreSQL the kill takes only Foyer down, never the database: one round shows it.
const roundsOn = (engine: Engine) => (engine === 'pglite' ? 2 : 1)

function engineSuite(engine: Engine) {
  const tmp = mkdtempSync(join(tmpdir(), 'foyer-crash-'))
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(tmp, { recursive: true, force: true })]
  after(async () => {
    killAllFoyers()
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('loses no acknowledged invitation and leaves none half-written after SIGKILL mid-burst', { timeout: 120_000 }, async (t) => {
    const dataDir = join(tmp, 'data')
    const env: Record<string, string> = {
      PORT: '0',
      FOYER_DATA_DIR: dataDir,
      FOYER_SECRET_KEY: randomSecretKey(),
      FOYER_SECRET: randomServerSecret(),
      LOG_LEVEL: 'warn',
    }
    let databaseUrl: string | null = null
    if (engine === 'postgres') {
      const created = await createPostgresDatabase()
      cleanups.push(created.drop)
      databaseUrl = created.url
      env.DATABASE_URL = databaseUrl
    }
    const key = env.FOYER_SECRET_KEY!
    const tag = randomBytes(4).toString('hex')
    const acked = new Map<string, string>()
    const unanswered = new Set<string>()

    let server = await startFoyer(env, { cwd: tmp })
    await api(server, key, 'PATCH', '/v1/instance', { rate_limits: { create_invitation: 0 } })
    let items: Listed[] = []
    for (let round = 1; round <= roundsOn(engine); round++) {
      const victim = server
      const burstStart = Date.now()
      const burst = await burstUntilKilled(victim, key, `${tag}.${round}`, () => victim.child.kill('SIGKILL'))
      const exit = await victim.exited
      assert.equal(exit.signal, 'SIGKILL', `the server died of the kill, not of something else:\n${victim.output()}`)
      assert.deepEqual(burst.unexpected, [], 'every answer the server gave was a 200')
      assert.ok(burst.ackedBeforeKill >= ACK_TARGET, `only ${burst.ackedBeforeKill} creates were acknowledged before the burst timed out`)
      assert.ok(burst.inFlightAtKill > 0, 'the kill landed while creates were in flight')
      for (const [id, email] of burst.acked) acked.set(id, email)
      for (const email of burst.unanswered) unanswered.add(email)

      const burstMs = Date.now() - burstStart
      const restartStart = Date.now()
      server = await startFoyer(env, { cwd: tmp })
      const restartMs = Date.now() - restartStart
      const before = items.length
      items = await checkThroughApi(server, key, acked, unanswered)
      const committedUnanswered = items.filter((i) => burst.unanswered.has(i.email_address)).length
      t.diagnostic(`${engine} round ${round}: acknowledged ${burst.ackedBeforeKill} before the kill (+${burst.acked.size - burst.ackedBeforeKill} read after it), ` +
        `${burst.inFlightAtKill} in flight at the kill, ${burst.unanswered.size} never answered; ` +
        `after restart ${items.length - before} new invitations found = ${burst.acked.size} acknowledged + ${committedUnanswered} committed but never answered ` +
        `(burst ${burstMs} ms, restart ${restartMs} ms)`)
    }

    // The recovered server still writes.
    const later = await api<Listed>(server, key, 'POST', '/v1/invitations', { email_address: `crash.${tag}.later@example.com`, notify: true })
    const expectedIds = new Set([...items.map((i) => i.id), later.id])

    const stopped = await server.stop()
    assert.deepEqual(stopped, { code: 0, signal: null }, `the restarted server stops cleanly:\n${server.output()}`)

    const db = await openDb({ databaseUrl, dataDir: databaseUrl ? null : join(dataDir, 'pgdata') })
    try {
      await checkDatabase(db, expectedIds)
    } finally {
      await db.close()
    }
  })
}

describe('crash safety under SIGKILL [pglite]', () => engineSuite('pglite'))
if (postgresUrl) describe('crash safety under SIGKILL [postgres]', () => engineSuite('postgres'))
else it('crash safety under SIGKILL [postgres]', { skip: 'TEST_DATABASE_URL is not set' }, () => {})
