/**
 * Fault tests for email delivery through the outbox, with Foyer as real child processes and a
 * real SMTP server (test/email/smtp-sink.ts):
 *
 * 1. SIGKILL while the worker holds claimed items (a slow SMTP server keeps them claimed),
 *    then a restart on the same data: every invitation's email arrives, and only the items
 *    that were claimed at the kill may arrive twice (same Message-ID, so receivers can drop
 *    the copy). Both engines.
 * 2. Two processes on one PostgreSQL draining 1,000 queued emails: each sent exactly once.
 *
 * Nothing here touches the database to fake recovery: after the restart, test 1 waits
 * (bounded) for the claim lease of the dead process to run out (KILL_LEASE_MS, set through
 * FOYER_TESTING_OUTBOX_LEASE_MS). The suites run side by side so that the waits overlap.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { openDb } from '../../src/platform/db/db.js'
import { createPostgresDatabase, postgresUrl, type Engine } from '../helpers/databases.js'
import { killAllFoyers, randomSecretKey, randomServerSecret, startFoyer, type FoyerProcess, api } from '../helpers/child-server.js'
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../email/smtp-sink.js'


interface Invitation { id: string; email_address: string }
interface EmailDelivery { id: string; status: string; attempts: number; smtp_message_id: string | null; last_error: string | null }
interface OutboxSnapshot { id: string; subject_id: string; status: string; attempts: number; claimed_until: string | number | null }


const liftRateLimits = (server: FoyerProcess, key: string) =>
  api(server, key, 'PATCH', '/v1/instance', { rate_limits: { create_invitation: 0, create_invitation_bulk: 0 } })

/** Queues `batches` bulk creates of 10 notified invitations, `parallel` requests at a time. */
async function queueInvitations(server: FoyerProcess, key: string, tag: string, batches: number, parallel: number): Promise<Invitation[]> {
  const created: Invitation[] = []
  let next = 0
  const lane = async () => {
    for (let b = next++; b < batches; b = next++) {
      const body = Array.from({ length: 10 }, (_, i) => ({ email_address: `deliv.${tag}.${b}.${i}@example.com`, notify: true }))
      const answer = await api<Invitation[]>(server, key, 'POST', '/v1/invitations/bulk', body)
      assert.equal(answer.length, 10)
      created.push(...answer.map(({ id, email_address }) => ({ id, email_address })))
    }
  }
  await Promise.all(Array.from({ length: parallel }, lane))
  return created
}

/** Polls `done` every `everyMs` until it holds or the deadline passes; then fails with `what()`. */
async function waitFor(done: () => boolean | Promise<boolean>, deadlineMs: number, what: () => string, everyMs = 25): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`gave up after ${deadlineMs} ms: ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** `<outbox id@host>` → outbox id: the Message-ID is derived from the outbox item (email.mailer.ts). */
const outboxIdOf = (m: ReceivedMail) => /^<([^@>]+)@/.exec(m.mail.messageId ?? '')?.[1] ?? `(no message id: ${m.mail.messageId})`

function countBy<T>(items: T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1)
  return counts
}

/** A port nothing listens on (a closed SMTP server): the kernel gave it out and it was closed again. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/** Per suite: its own children, sink, folder and database, all gone in `after`, whatever happened. */
function resources() {
  const tmp = mkdtempSync(join(tmpdir(), 'foyer-delivery-'))
  const children: FoyerProcess[] = []
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(tmp, { recursive: true, force: true })]
  after(async () => {
    // Only this suite's children: the other suites of this file run at the same time.
    for (const child of children) child.child.kill('SIGKILL')
    await Promise.all(children.map((c) => c.exited))
    for (const cleanup of cleanups.reverse()) await cleanup()
  })
  return {
    tmp,
    cleanups,
    async start(env: Record<string, string>): Promise<FoyerProcess> {
      const server = await startFoyer(env, { cwd: tmp })
      children.push(server)
      return server
    },
    async sink(options: { delayMs?: number } = {}): Promise<SmtpSink> {
      const sink = await startSmtpSink(0, [], options)
      cleanups.push(() => sink.stop())
      return sink
    },
  }
}

// ── 1. SIGKILL with items claimed ─────────────────────────────────────────────────────────

// Enough that a claim holds more items than the worker sends at once (10 lanes, 10 SMTP connections),
// so the kill lands with some claimed and not yet handed to SMTP.
const KILL_BATCHES = 8 // × 10 = 80 emails
const SINK_DELAY_MS = 200
// Kill once the sink has this many: past the worker's first batch, inside a later one, so that
// some claimed items are in the slow sink's hands and others still wait in the process.
const KILL_AT = 15
// Runs of the kill that may land where nothing is claimed before the test gives up.
const KILL_ATTEMPTS = 3
// The claim lease of these processes: well above the time a claimed batch takes at the slow
// sink (50 items, 10 lanes, 200 ms each), so a live process never loses its own claims, and
// short enough that the restart need not wait the 20 s FOYER_TESTING would otherwise give.
const KILL_LEASE_MS = 5000

function killSuite(engine: Engine) {
  const r = resources()

  it('delivers every email after a SIGKILL with items claimed, resending only those items', { timeout: 150_000 }, async (t) => {
    const killWhileClaimed = async (attempt: number) => {
      const sink = await r.sink({ delayMs: SINK_DELAY_MS })
      const dataDir = join(r.tmp, `data-${attempt}`)
      const env: Record<string, string> = {
        PORT: '0',
        FOYER_DATA_DIR: dataDir,
        FOYER_SECRET_KEY: randomSecretKey(),
        FOYER_SECRET: randomServerSecret(),
        LOG_LEVEL: 'warn',
        FOYER_TESTING: '1',
        FOYER_TESTING_OUTBOX_LEASE_MS: String(KILL_LEASE_MS),
        SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
      }
      let databaseUrl: string | null = null
      if (engine === 'postgres') {
        const created = await createPostgresDatabase()
        r.cleanups.push(created.drop)
        databaseUrl = created.url
        env.DATABASE_URL = databaseUrl
      }
      const key = env.FOYER_SECRET_KEY!
      const total = KILL_BATCHES * 10

      const first = await r.start(env)
      await liftRateLimits(first, key)
      const invitations = await queueInvitations(first, key, randomBytes(4).toString('hex'), KILL_BATCHES, 4)
      assert.equal(invitations.length, total)

      await waitFor(() => sink.messages.length >= KILL_AT, 30_000, () => `the sink received only ${sink.messages.length} messages`, 5)
      const atKill = sink.messages.length
      assert.ok(atKill < total, `the sink already held all ${total} emails before the kill (${atKill}): make it slower`)
      const exit = await first.kill()
      assert.equal(exit.signal, 'SIGKILL', `the server died of the kill:\n${first.output()}`)
      // Messages whose data the sink had at the kill are accepted at the end of its delay.
      await new Promise((resolve) => setTimeout(resolve, SINK_DELAY_MS * 3))
      const sentBeforeRestart = new Set(sink.messages.map(outboxIdOf))

      // What the dead process left behind, read (only read) while no process runs.
      const db = await openDb({ databaseUrl, dataDir: databaseUrl ? null : join(dataDir, 'pgdata') })
      let rows: OutboxSnapshot[]
      try {
        rows = await db.query<OutboxSnapshot>(`select id, subject_id, status, attempts, claimed_until from outbox where kind = 'email'`)
      } finally {
        await db.close()
      }
      assert.equal(rows.length, total, 'one email item per invitation')
      const claimed = new Set(rows.filter((row) => row.status === 'sending').map((row) => row.id))
      const deliveredBefore = new Set(rows.filter((row) => row.status === 'delivered').map((row) => row.id))
      const pendingBefore = rows.filter((row) => row.status === 'pending').length
      const statuses = JSON.stringify([...countBy(rows, (row) => row.status)])
      assert.ok(rows.every((row) => row.status !== 'failed'), 'nothing failed before the kill')
      const leaseEnds = Math.max(...rows.filter((row) => claimed.has(row.id)).map((row) => Number(row.claimed_until)))
      // Claimed items the sink never saw: only the lease running out can bring them back.
      const claimedUnsent = [...claimed].filter((id) => !sentBeforeRestart.has(id))
      // Where the kill lands is up to the scheduler: on a loaded machine the worker may sit
      // between two batches with nothing claimed. That run proves nothing, so it is run again.
      if (claimedUnsent.length === 0 && attempt < KILL_ATTEMPTS) {
        t.diagnostic(`${engine}: kill ${attempt} landed with no claimed item left unsent (statuses: ${statuses}); again`)
        return null
      }
      assert.ok(claimed.size > 0, `the kill landed with items claimed (statuses: ${statuses})`)
      assert.ok(claimedUnsent.length > 0, `the kill landed with claimed items not yet handed to SMTP (claimed ${claimed.size}, all at the sink)`)
      return { sink, env, key, total, invitations, atKill, claimed, deliveredBefore, pendingBefore, leaseEnds, claimedUnsent }
    }
    let killed: NonNullable<Awaited<ReturnType<typeof killWhileClaimed>>> | null = null
    for (let attempt = 1; !killed; attempt++) killed = await killWhileClaimed(attempt)
    const { sink, env, key, total, invitations, atKill, claimed, deliveredBefore, pendingBefore, leaseEnds, claimedUnsent } = killed

    const second = await r.start(env)
    const restartedAt = Date.now()
    // The dead process's claims come back only when their lease runs out: wait for that, bounded.
    // Done when every invitation's email is at the sink and recorded as sent.
    const atSink = () => new Set(sink.messages.flatMap((m) => m.envelopeTo))
    const histories = new Map<string, EmailDelivery>()
    await waitFor(async () => {
      const seen = atSink()
      if (!invitations.every((i) => seen.has(i.email_address))) return false
      for (const inv of invitations) {
        if (histories.get(inv.id)?.status === 'sent') continue
        const { data } = await api<{ data: EmailDelivery[] }>(second, key, 'GET', `/v1/invitations/${inv.id}/emails`)
        assert.equal(data.length, 1, `one email item for ${inv.id}`)
        histories.set(inv.id, data[0]!)
      }
      return [...histories.values()].every((h) => h.status === 'sent')
    }, Math.max(0, leaseEnds - Date.now()) + 20_000, () => {
      const seen = atSink()
      return `${invitations.filter((i) => !seen.has(i.email_address)).length} of ${total} invitations have no email at the sink; ` +
        `not recorded as sent: ${JSON.stringify([...histories.values()].filter((h) => h.status !== 'sent').slice(0, 3))}`
    }, 250)
    const allDeliveredAt = Date.now()

    const stopped = await second.stop()
    assert.deepEqual(stopped, { code: 0, signal: null }, `the restarted server stops cleanly:\n${second.output()}`)

    const perItem = countBy(sink.messages, outboxIdOf)
    for (const inv of invitations) {
      const history = histories.get(inv.id)!
      const received = sink.messages.filter((m) => outboxIdOf(m) === history.id)
      assert.ok(received.length >= 1, `the email of ${inv.email_address} arrived`)
      assert.ok(received.every((m) => m.envelopeTo.length === 1 && m.envelopeTo[0] === inv.email_address), `the email of item ${history.id} went to ${inv.email_address}`)
      assert.ok(received.some((m) => m.mail.messageId === history.smtp_message_id), 'the recorded SMTP message id is the one the sink saw')
    }
    const outboxIds = new Set([...histories.values()].map((h) => h.id))
    assert.deepEqual([...perItem.keys()].filter((id) => !outboxIds.has(id)), [], 'the sink got nothing but these invitations\' emails')
    const duplicates = [...perItem].filter(([, n]) => n > 1)
    assert.deepEqual(duplicates.filter(([id]) => !claimed.has(id)), [], 'only items claimed at the kill were sent more than once')
    assert.ok(duplicates.every(([, n]) => n === 2), `a claimed item is sent at most twice: ${JSON.stringify(duplicates)}`)
    for (const id of deliveredBefore) assert.equal(perItem.get(id), 1, `item ${id}, delivered before the kill, was not sent again`)

    for (const id of claimedUnsent) assert.equal(perItem.get(id), 1, `item ${id}, claimed but never handed to SMTP, was sent once after the restart`)

    t.diagnostic(`${engine}: ${atKill} of ${total} at the sink when killed; outbox at the kill: ${deliveredBefore.size} delivered, ` +
      `${claimed.size} claimed (${claimed.size - claimedUnsent.length} of them already at the sink), ${pendingBefore} pending; after restart ${sink.messages.length} messages for ${perItem.size} items, ` +
      `${duplicates.length} duplicated (all among the claimed); all sent ${Math.round((allDeliveredAt - restartedAt) / 1000)} s after the restart, ` +
      `lease of the dead claims ended ${Math.round((leaseEnds - restartedAt) / 1000)} s after it`)
  })
}

// ── 2. Two processes draining 1,000 queued emails ─────────────────────────────────────────

const DRAIN_BATCHES = 100 // × 10 = 1,000 emails

function drainSuite() {
  const r = resources()

  it('delivers 1,000 queued emails exactly once with two processes on one database', { timeout: 150_000 }, async (t) => {
    const sink = await r.sink()
    const created = await createPostgresDatabase()
    r.cleanups.push(created.drop)
    const base: Record<string, string> = {
      PORT: '0',
      DATABASE_URL: created.url,
      FOYER_SECRET_KEY: randomSecretKey(),
      FOYER_SECRET: randomServerSecret(),
      LOG_LEVEL: 'warn',
      // The retry delays of the items that failed while SMTP was unreachable: seconds, not minutes.
      FOYER_TESTING: '1',
    }
    const key = base.FOYER_SECRET_KEY!
    const total = DRAIN_BATCHES * 10

    // Queue while no worker can reach SMTP: each attempt fails and the item stays pending.
    const queuer = await r.start({ ...base, FOYER_DATA_DIR: join(r.tmp, 'queuer'), SMTP_URL: `smtp://127.0.0.1:${await closedPort()}` })
    await liftRateLimits(queuer, key)
    const invitations = await queueInvitations(queuer, key, randomBytes(4).toString('hex'), DRAIN_BATCHES, 8)
    assert.equal(invitations.length, total)
    assert.deepEqual(await queuer.stop(), { code: 0, signal: null }, `the queuing server stops cleanly:\n${queuer.output()}`)
    assert.equal(sink.messages.length, 0)

    const db = await openDb({ databaseUrl: created.url, dataDir: null })
    try {
      const queued = await db.query<{ status: string; attempts: number; n: number }>(
        `select status, attempts, count(*)::int as n from outbox where kind = 'email' group by status, attempts order by status, attempts`)
      assert.ok(queued.every((q) => q.status === 'pending'), `all queued, none sent or given up: ${JSON.stringify(queued)}`)
      assert.equal(queued.reduce((n, q) => n + q.n, 0), total)

      const env = { ...base, SMTP_URL: `smtp://127.0.0.1:${sink.port}` }
      const [a, b] = await Promise.all([r.start({ ...env, FOYER_DATA_DIR: join(r.tmp, 'a') }), r.start({ ...env, FOYER_DATA_DIR: join(r.tmp, 'b') })])
      const startedAt = Date.now()
      const distinct = () => new Set(sink.messages.map(outboxIdOf)).size
      // The latest retry among the queued items is at most 30 s away (the third attempt's delay under FOYER_TESTING).
      await waitFor(() => distinct() >= total, 60_000, () => `the sink holds ${distinct()} distinct Message-IDs of ${total}`, 100)
      const drainedMs = Date.now() - startedAt
      // Both stop gracefully: whatever they still had in flight finishes, so nothing arrives after this.
      const [exitA, exitB] = await Promise.all([a.stop(), b.stop()])
      assert.deepEqual(exitA, { code: 0, signal: null }, a.output())
      assert.deepEqual(exitB, { code: 0, signal: null }, b.output())

      const perRecipient = countBy(sink.messages, (m) => m.envelopeTo.join(','))
      const wrong = invitations.filter((i) => perRecipient.get(i.email_address) !== 1)
      assert.equal(wrong.length, 0, `${wrong.length} recipients did not get exactly one message, e.g. ` +
        JSON.stringify(wrong.slice(0, 5).map((i) => [i.email_address, perRecipient.get(i.email_address) ?? 0])))
      assert.equal(sink.messages.length, total, 'the sink holds exactly one message per invitation')
      assert.equal(new Set(sink.messages.map((m) => m.mail.messageId)).size, total, 'and 1,000 distinct Message-IDs')

      const final = await db.query<{ status: string; attempts: number; n: number }>(
        `select status, attempts, count(*)::int as n from outbox where kind = 'email' group by status, attempts order by status, attempts`)
      assert.ok(final.every((row) => row.status === 'delivered'), `every item is delivered: ${JSON.stringify(final)}`)
      t.diagnostic(`postgres: queued with SMTP down (status/attempts/count: ${JSON.stringify(queued.map((q) => [q.status, q.attempts, q.n]))}); ` +
        `two processes delivered ${sink.messages.length} messages to ${perRecipient.size} recipients, ` +
        `${distinct()} distinct Message-IDs, in ${Math.round(drainedMs / 100) / 10} s (attempts at the end: ${JSON.stringify(final.map((row) => [row.attempts, row.n]))})`)
    } finally {
      await db.close()
    }
  })
}

// The suites run side by side: the waits for the claim leases and for the drain's retry delays
// are most of the file's time, and they overlap.
describe('email delivery faults', { concurrency: true }, () => {
  after(() => killAllFoyers())
  describe('SIGKILL with emails claimed [pglite]', () => killSuite('pglite'))
  if (postgresUrl) {
    describe('SIGKILL with emails claimed [postgres]', () => killSuite('postgres'))
    describe('two processes draining 1,000 emails [postgres]', () => drainSuite())
  } else {
    it('SIGKILL with emails claimed [postgres]', { skip: 'TEST_DATABASE_URL is not set' }, () => {})
    it('two processes draining 1,000 emails [postgres]', { skip: 'TEST_DATABASE_URL is not set (PostgreSQL only)' }, () => {})
  }
})
