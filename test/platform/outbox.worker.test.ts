import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase, postgresUrl } from '../helpers/databases.js'
import { openDb, type Db } from '../../src/platform/db/db.js'
import { newId } from '../../src/platform/ids.js'
import { createOutboxStore, type OutboxRow } from '../../src/platform/outbox/outbox.store.js'
import { createOutboxWorker, type OutboxHandler, type OutboxWorkerOptions } from '../../src/platform/outbox/outbox.worker.js'

const store = createOutboxStore()

forEachDatabase('outbox worker', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  /** `n` items of `kind` for a new instance, due now unless told otherwise. */
  const queue = async (n: number, kind = 'test', dueInMs = 0) => {
    const { instance } = await t.newInstance()
    const now = t.clock.now()
    const items = Array.from({ length: n }, (_, i) => ({
      id: newId('msg', now), instanceId: instance.id, kind, topic: 'topic', subjectId: null, payload: { i }, nextAttemptAt: now + dueInMs,
    }))
    await store.enqueue(t.db, items, now)
    return { instanceId: instance.id, ids: items.map((i) => i.id) }
  }
  const rows = async (ids: string[]) => {
    const found = await t.db.query<OutboxRow>('select * from outbox where id = any($1::text[])', [ids])
    return new Map(found.map((r) => [r.id, r]))
  }
  const worker = (handlers: Record<string, OutboxHandler>, extra: Partial<OutboxWorkerOptions> = {}) => createOutboxWorker({
    db: t.db, store, clock: t.clock, random: () => 1, leaseMs: 60_000, ...extra,
    kinds: Object.fromEntries(Object.entries(handlers).map(([kind, deliver]) => [kind, { deliver, retryDelaysMs: [1000, 5000] }])),
  })

  it('delivers each due item once, records the answer, and leaves items not yet due', async () => {
    const due = await queue(5)
    const later = await queue(2, 'test', 10_000)
    const seen: string[] = []
    const w = worker({ test: async (item) => { seen.push(item.id); return { smtp_id: `<${item.id}@test>` } } })
    await w.drain()
    assert.deepEqual(seen.filter((id) => due.ids.includes(id)).sort(), [...due.ids].sort())
    assert.ok(later.ids.every((id) => !seen.includes(id)))
    const after = await rows(due.ids)
    for (const id of due.ids) {
      assert.equal(after.get(id)!.status, 'delivered')
      assert.equal(after.get(id)!.attempts, 1)
      assert.deepEqual(after.get(id)!.result, { smtp_id: `<${id}@test>` })
    }
    t.clock.advance(10_000)
    await w.drain()
    assert.ok(later.ids.every((id) => seen.includes(id)))
    assert.equal(seen.length, new Set(seen).size)
  })

  it('retries on the schedule with jitter, then keeps the item as failed with its last error', async () => {
    const { ids: [id] } = await queue(1, 'flaky')
    let calls = 0
    const w = worker({ flaky: async () => { calls++; throw new Error(`refused #${calls}`) } }, { random: () => 0 })
    await w.drain()
    let row = (await rows([id!])).get(id!)!
    assert.equal(row.status, 'pending')
    assert.equal(row.last_error, 'refused #1')
    // random() = 0 draws the shortest delay of the jitter window: half the scheduled one.
    assert.equal(row.next_attempt_at, t.clock.now() + 500)
    assert.equal(await w.drain(), 0, 'not due yet')
    t.clock.advance(500)
    await w.drain()
    row = (await rows([id!])).get(id!)!
    assert.equal(row.attempts, 2)
    assert.equal(row.next_attempt_at, t.clock.now() + 2500)
    t.clock.advance(2500)
    await w.drain()
    row = (await rows([id!])).get(id!)!
    assert.equal(row.status, 'failed')
    assert.equal(row.attempts, 3)
    assert.equal(row.last_error, 'refused #3')
    t.clock.advance(3_600_000)
    assert.equal(await w.drain(), 0, 'a failed item is not tried again')
    assert.equal(calls, 3)
  })

  it('succeeds on a later attempt after failures', async () => {
    const { ids: [id] } = await queue(1, 'recovering')
    let calls = 0
    const w = worker({ recovering: async () => { if (++calls < 2) throw new Error('receiver down'); return { status: 200 } } })
    await w.drain()
    t.clock.advance(1000)
    await w.drain()
    const row = (await rows([id!])).get(id!)!
    assert.equal(row.status, 'delivered')
    assert.equal(row.last_error, null)
    assert.equal(calls, 2)
  })

  it('re-delivers an item whose claim outlived its process, and fences out the late first claim', async () => {
    const { ids: [id] } = await queue(1, 'leased')
    // A process claims the item and dies before answering.
    const [claimed] = await store.claim(t.db, ['leased'], t.clock.now(), t.clock.now() + 60_000, 10)
    assert.equal(claimed!.id, id)
    const seen: string[] = []
    const w = worker({ leased: async (item) => { seen.push(item.id); return null } })
    assert.equal(await w.drain(), 0, 'a live claim is left alone')
    t.clock.advance(60_000)
    await w.drain()
    assert.deepEqual(seen, [id])
    const row = (await rows([id!])).get(id!)!
    assert.equal(row.status, 'delivered')
    assert.equal(row.attempts, 2)
    assert.equal(await store.markFailed(t.db, id!, claimed!.claimed_until!, t.clock.now(), 'late', null), false)
    assert.equal((await rows([id!])).get(id!)!.status, 'delivered')
  })

  it('claims only the kinds it has handlers for', async () => {
    const mine = await queue(2, 'mine')
    const theirs = await queue(2, 'theirs')
    await worker({ mine: async () => null }).drain()
    const after = await rows([...mine.ids, ...theirs.ids])
    assert.ok(mine.ids.every((id) => after.get(id)!.status === 'delivered'))
    assert.ok(theirs.ids.every((id) => after.get(id)!.status === 'pending' && after.get(id)!.attempts === 0))
  })

  it('on stop, finishes the item in hand and hands back the ones not started', async () => {
    const { ids } = await queue(4, 'slow')
    let release!: () => void
    const started: string[] = []
    const gate = new Promise<void>((resolve) => { release = resolve })
    const w = worker({ slow: async (item) => { started.push(item.id); await gate; return null } }, { concurrency: 1, pollMs: 60_000 })
    w.start()
    while (started.length === 0) await new Promise((resolve) => setImmediate(resolve))
    const stopped = w.stop()
    release()
    await stopped
    const after = await rows(ids)
    assert.equal(started.length, 1)
    assert.equal(after.get(started[0]!)!.status, 'delivered')
    for (const id of ids.filter((i) => i !== started[0])) {
      assert.equal(after.get(id)!.status, 'pending', 'handed back')
      assert.equal(after.get(id)!.attempts, 0)
      assert.equal(after.get(id)!.claimed_until, null)
    }
  })
})

it('two processes on one PostgreSQL deliver 1,000 items exactly once between them', { skip: postgresUrl ? false : 'TEST_DATABASE_URL is not set' }, async () => {
  const t = await buildTestApp({ engine: 'postgres' })
  // A second pool on the same database claims as a second Foyer process would.
  const second: Db = await openDb({ databaseUrl: t.databaseUrl, dataDir: null })
  try {
    const { instance } = await t.newInstance()
    const now = t.clock.now()
    const ids = Array.from({ length: 1000 }, () => newId('msg', now))
    await store.enqueue(t.db, ids.map((id) => ({ id, instanceId: instance.id, kind: 'race', topic: 't', subjectId: null, payload: {}, nextAttemptAt: now })), now)
    const deliveries = new Map<string, number>()
    const handler: OutboxHandler = async (item) => {
      deliveries.set(item.id, (deliveries.get(item.id) ?? 0) + 1)
      await new Promise((resolve) => setImmediate(resolve))
      return null
    }
    const make = (db: Db) => createOutboxWorker({ db, store, clock: t.clock, kinds: { race: { deliver: handler, retryDelaysMs: [1000] } }, batchSize: 20, concurrency: 5 })
    await Promise.all([make(t.db).drain(), make(second).drain(), make(t.db).drain()])
    assert.equal(deliveries.size, 1000)
    assert.ok([...deliveries.values()].every((n) => n === 1), 'no item delivered twice')
  } finally {
    await second.close()
    await t.close()
  }
})
