import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'

forEachDatabase('invitation changes and the outbox', (engine) => {
  let t: TestApp
  let api: Client
  before(async () => {
    t = await buildTestApp({ engine })
    api = client(t.app, (await t.newInstance()).secretKey)
  })
  after(() => t.close())

  const items = (subjectId: string) =>
    t.db.query<{ kind: string; status: string; next_attempt_at: number }>('select kind, status, next_attempt_at from outbox where subject_id = $1 order by kind', [subjectId])

  // An instance whose test clock runs a day ahead must not queue its emails and events a day
  // into the worker's (wall-clock) future.
  it('queues on wall time, so a moved test clock delays nothing', async () => {
    await api.post('/v1/testing/clock', { advance_ms: 24 * 3600 * 1000 })
    const created = await api.post('/v1/invitations', { email_address: uniqueEmail(), notify: true })
    assert.equal(created.status, 200)
    const revoked = await api.post(`/v1/invitations/${created.body.id}/revoke`)
    assert.equal(revoked.status, 200)
    const queued = await items(created.body.id)
    assert.deepEqual(queued.map((i) => i.kind), ['email', 'webhook', 'webhook'])
    assert.ok(queued.every((i) => i.next_attempt_at <= t.clock.now()), 'due now on the worker\'s clock')
    await t.outboxWorker.drain()
    assert.ok((await items(created.body.id)).every((i) => i.status === 'delivered'))
  })
})
