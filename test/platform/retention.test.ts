import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { DAY_MS } from '../../src/platform/clock.js'
import { newId } from '../../src/platform/ids.js'
import { createRetentionPruner, createRetentionStore } from '../../src/platform/outbox/outbox.retention.js'
import type { Queryable } from '../../src/platform/db/db.js'
import { eraseSignUpTraces } from '../../src/accept/erasure.js'
import { startReceiver } from '../webhooks/receiver.js'

// Short windows, one per kind, so that the load reaches its steady state in a few simulated days.
const EMAILS_DAYS = 5
const WEBHOOKS_DAYS = 3
const FAILED_DAYS = 10
const PER_DAY = 3
const DAYS = 15
// Under FOYER_TESTING the retry schedule runs 1000 times faster: its longest wait is 36 s.
const RETRY_ROUND_MS = 60_000
const RETRY_ROUNDS = 8

forEachDatabase('retention', (engine) => {
  let t: TestApp
  const receivers: Awaited<ReturnType<typeof startReceiver>>[] = []
  before(async () => {
    t = await buildTestApp({
      engine,
      env: { FOYER_RETENTION_EMAILS_DAYS: String(EMAILS_DAYS), FOYER_RETENTION_WEBHOOKS_DAYS: String(WEBHOOKS_DAYS), FOYER_RETENTION_FAILED_DAYS: String(FAILED_DAYS) },
    })
  })
  after(async () => {
    for (const r of receivers) await r.close()
    await t.close()
  })

  const count = async (sql: string, params: unknown[]) => Number((await t.db.query<{ n: string }>(sql, params))[0]!.n)
  const outboxRows = (instanceId: string) => count('select count(*) as n from outbox where instance_id = $1', [instanceId])

  async function endpoint(api: Client, status: number, body: Record<string, unknown> = {}) {
    let secret = ''
    const receiver = await startReceiver(() => secret, () => status)
    receivers.push(receiver)
    const res = await api.post('/v1/webhooks/endpoints', { url: receiver.url, ...body })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    secret = res.body.secret
    return res.body as { id: string }
  }

  /** Delivers everything, retries included, until the failing receiver's deliveries give up. */
  async function deliverAll() {
    for (let i = 0; i < RETRY_ROUNDS; i++) {
      await t.outboxWorker.drain()
      t.clock.advance(RETRY_ROUND_MS)
    }
  }

  it('under a steady create load the outbox levels off at what each window holds; failed items stay until the longer limit', async () => {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    await endpoint(api, 200)
    // Every invitation.created delivery to this one fails: its retries run out the same day.
    const failing = await endpoint(api, 500, { event_types: ['invitation.created'] })

    // Another instance's item still waiting for a retry long after it was queued, and one
    // being sent right now: pruning takes neither, however old.
    const other = await t.newInstance()
    const old = t.clock.now() - 100 * DAY_MS
    const waiting = newId('msg', old)
    const sending = newId('msg', old)
    await t.db.query(`
      insert into outbox (id, instance_id, kind, topic, payload, status, attempts, next_attempt_at, claimed_until, created_at, updated_at)
      values ($1, $3, 'webhook', 'user.created', '{}', 'pending', 3, $5, null, $4, $4),
             ($2, $3, 'webhook', 'user.created', '{}', 'sending', 1, $4, $5, $4, $4)`,
    [waiting, sending, other.instance.id, old, t.clock.now() + 365 * DAY_MS])

    const first: { id: string }[] = []
    let last = { id: '' }
    const counts: number[] = []
    for (let day = 0; day < DAYS; day++) {
      const dayStart = t.clock.now()
      for (let i = 0; i < PER_DAY; i++) {
        const res = await api.post('/v1/invitations', { email_address: uniqueEmail('load'), notify: true })
        assert.equal(res.status, 200, JSON.stringify(res.body))
        if (day === 0) first.push(res.body)
        last = res.body
      }
      await deliverAll()
      t.clock.advance(dayStart + DAY_MS - t.clock.now())
      await t.retention.runOnce()
      counts.push(await outboxRows(instance.id))
    }

    // Each invitation leaves: its email (kept EMAILS_DAYS); email.created and two deliveries to
    // the endpoint that answers (WEBHOOKS_DAYS); the failed delivery (FAILED_DAYS) and the
    // invitation.created event it still needs, however old (FAILED_DAYS).
    const steady = PER_DAY * (EMAILS_DAYS + 3 * WEBHOOKS_DAYS + 2 * FAILED_DAYS)
    const created = PER_DAY * DAYS * 6
    assert.ok(created > 2 * steady, `the load (${created} items) outgrows the windows (${steady})`)
    assert.deepEqual(counts.slice(FAILED_DAYS - 1), Array(DAYS - FAILED_DAYS + 1).fill(steady), `rows after each day: ${counts.join(', ')}`)
    for (let day = 1; day < counts.length; day++) assert.ok(counts[day]! >= counts[day - 1]!, `it only grows until it levels off: ${counts.join(', ')}`)

    const now = t.clock.now()
    const failed = await t.db.query<{ n: string; oldest: string }>(
      `select count(*) as n, min(updated_at) as oldest from outbox where instance_id = $1 and status = 'failed'`, [instance.id])
    assert.equal(Number(failed[0]!.n), PER_DAY * FAILED_DAYS)
    assert.ok(Number(failed[0]!.oldest) < now - (WEBHOOKS_DAYS + 1) * DAY_MS, 'failed deliveries outlive delivered ones')
    assert.ok(Number(failed[0]!.oldest) >= now - FAILED_DAYS * DAY_MS, 'and go after the longer limit')
    assert.equal(await count(`select count(*) as n from dev_mailbox_messages where instance_id = $1`, [instance.id]), PER_DAY * EMAILS_DAYS)
    // Attempts go with their deliveries: one per answered delivery, seven per failed one.
    assert.equal(await count(`select count(*) as n from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.instance_id = $1`, [instance.id]),
      PER_DAY * (2 * WEBHOOKS_DAYS + 7 * FAILED_DAYS))
    assert.equal(await count(`select count(*) as n from webhook_deliveries where instance_id = $1`, [instance.id]), PER_DAY * (2 * WEBHOOKS_DAYS + FAILED_DAYS))

    // The other instance's waiting and in-flight items are untouched.
    assert.deepEqual((await t.db.query<{ id: string }>('select id from outbox where instance_id = $1 order by id', [other.instance.id])).map((r) => r.id),
      [waiting, sending].sort())

    // What is kept still reads as before: the failing endpoint's log with every attempt, the
    // newest invitation's email history; a pruned history is an empty one, not an error.
    const log = await api.get(`/v1/webhooks/endpoints/${failing.id}/deliveries?paginated=true&limit=100`)
    assert.equal(log.status, 200)
    assert.equal(log.body.total_count, PER_DAY * FAILED_DAYS)
    assert.ok(log.body.data.every((d: any) => d.status === 'failed' && d.attempts.length === 7), JSON.stringify(log.body.data[0]))
    const history = await api.get(`/v1/invitations/${last.id}/emails`)
    assert.equal(history.status, 200)
    assert.deepEqual(history.body.data.map((e: any) => e.status), ['sent'])
    const pruned = await api.get(`/v1/invitations/${first[0]!.id}/emails`)
    assert.equal(pruned.status, 200)
    assert.deepEqual(pruned.body, { data: [], total_count: 0 })
  })

  it('every prune, and erasing a person, walks an index: none can scan a table', async () => {
    // With sequential scans priced out, a plan still holding one has no index to use instead.
    const plans = await t.db.transaction(async (tx) => {
      await tx.query('set local enable_seqscan = off')
      const explained: string[] = []
      const explain = {
        query: async (sql: string, params?: readonly unknown[]) => {
          explained.push((await tx.query<Record<string, string>>(`explain ${sql}`, params)).map((r) => Object.values(r)[0]).join('\n'))
          return []
        },
        exec: () => Promise.reject(new Error('not here')),
        queryCustomPlan: () => Promise.reject(new Error('not here')),
      } as Queryable
      const store = createRetentionStore()
      const now = t.clock.now()
      for (const kind of ['email', 'webhook', 'webhook_delivery']) await store.pruneDelivered(explain, kind, now, 500)
      await store.pruneFailed(explain, now, 500)
      await store.pruneDevMessages(explain, now, 500)
      await store.pruneCodeEmails(explain, now, 500)
      // Erasing a person (deleting a user or an invitation) finds their rows the same way.
      await eraseSignUpTraces(explain, 'ins_x', ['someone@example.com', 'someone'], ['idn_x'])
      return explained
    })
    assert.equal(plans.length, 8)
    for (const plan of plans) assert.doesNotMatch(plan, /Seq Scan/, plan)
    // Erasure's first statement finds the audit records still riding in pending events (migration 035).
    const indexes = ['outbox_delivered', 'outbox_delivered', 'outbox_delivered', 'outbox_failed', 'dev_mailbox_messages_created', 'sign_up_code_emails_sent', 'outbox_due']
    indexes.forEach((index, i) => assert.match(plans[i]!, new RegExp(`Index Scan (using|on) ${index} `), plans[i]))
  })

  it('forgets code emails a day after they were sent: the limit they count for is hourly', async () => {
    const { instance } = await t.newInstance()
    const now = t.clock.now()
    await t.db.query(`insert into sign_up_code_emails (attempt_id, instance_id, mailbox, sent_at) values
      ('sua_old', $1, 'old@example.com', $2), ('sua_recent', $1, 'recent@example.com', $3)`, [instance.id, now - DAY_MS - 1, now - DAY_MS + 60_000])
    await t.retention.runOnce()
    const left = await t.db.query<{ attempt_id: string }>('select attempt_id from sign_up_code_emails where instance_id = $1', [instance.id])
    assert.deepEqual(left.map((r) => r.attempt_id), ['sua_recent'])
  })

  it('several processes prune side by side, each row once, and nothing recent goes', async () => {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    for (let i = 0; i < 40; i++) assert.equal((await api.post('/v1/invitations', { email_address: uniqueEmail('many'), notify: true })).status, 200)
    await deliverAll()
    t.clock.advance(EMAILS_DAYS * DAY_MS + 1)
    const recent = (await api.post('/v1/invitations', { email_address: uniqueEmail('recent'), notify: true })).body
    await t.outboxWorker.drain()
    const before = await count(`select count(*) as n from outbox where instance_id = $1 and kind = 'email'`, [instance.id])
    assert.equal(before, 41)

    // Small batches, several at once: on PostgreSQL each runs on its own connection.
    const pruners = Array.from({ length: 3 }, () => createRetentionPruner({ db: t.db, clock: t.clock, days: t.config.retentionDays, batchSize: 7 }))
    const deleted = await Promise.all(pruners.map((p) => p.runOnce()))
    assert.ok(deleted.reduce((a, b) => a + b, 0) >= 80, `40 emails and their 40 dev mailbox copies at least: ${deleted.join(', ')}`)
    const left = await t.db.query<{ subject_id: string }>(`select subject_id from outbox where instance_id = $1 and kind = 'email'`, [instance.id])
    assert.deepEqual(left.map((r) => r.subject_id), [recent.id])
    assert.equal(await count('select count(*) as n from dev_mailbox_messages where instance_id = $1', [instance.id]), 1)
    assert.equal(await t.retention.runOnce(), 0, 'nothing left to prune')
  })
})
