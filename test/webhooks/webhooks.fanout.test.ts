import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { createWebhookStore } from '../../src/webhooks/webhooks.store.js'

forEachDatabase('webhook fan-out', (engine) => {
  let t: TestApp
  let api: Client
  let instanceId: string
  before(async () => {
    t = await buildTestApp({ engine })
    const made = await t.newInstance()
    instanceId = made.instance.id
    api = client(t.app, made.secretKey)
  })
  after(() => t.close())

  // A process that dies after fanning out but before marking the event done runs the
  // fan-out again after restart: it must queue nothing twice.
  it('queues one delivery per matching endpoint, and nothing more when run again', async () => {
    for (const event_types of [[], ['invitation.created'], ['invitation.revoked']]) {
      assert.equal((await api.post('/v1/webhooks/endpoints', { url: 'http://127.0.0.1:9/hook', event_types })).status, 200)
    }
    const inv = await api.post('/v1/invitations', { email_address: uniqueEmail(), notify: false })
    const [event] = await t.db.query<{ id: string }>(`select id from outbox where subject_id = $1 and kind = 'webhook'`, [inv.body.id])
    const store = createWebhookStore()
    const fanOut = () => store.fanOut(t.db, { id: event!.id, instanceId, type: 'invitation.created', subjectId: inv.body.id }, t.clock.now())
    assert.equal(await fanOut(), 2, 'the all-events endpoint and the invitation.created one')
    assert.equal(await fanOut(), 0)
    const queued = await t.db.query<{ n: number }>(`select count(*)::int as n from outbox where kind = 'webhook_delivery' and payload->>'event_id' = $1`, [event!.id])
    assert.equal(queued[0]!.n, 2)
  })
})
