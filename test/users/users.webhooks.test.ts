import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, webhookEventValidator } from '../helpers/spec.js'
import { startReceiver } from '../webhooks/receiver.js'

forEachDatabase('user.created and user.deleted webhooks', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  /** Fan-out, then delivery. */
  const deliverAll = async () => {
    await t.outboxWorker.drain()
    await t.outboxWorker.drain()
  }

  it('reach a receiver signed, in Clerk\'s payload shapes, with the User as created', async (ctx) => {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    let secret = ''
    const receiver = await startReceiver(() => secret)
    ctx.after(receiver.close)
    const endpoint = await api.post('/v1/webhooks/endpoints', { url: receiver.url, event_types: ['user.created', 'user.deleted'] })
    assert.equal(endpoint.status, 200)
    secret = endpoint.body.secret

    const created = await api.post('/v1/users', {
      email_address: [uniqueEmail('hooked')], first_name: 'Hook', password: 'long enough', public_metadata: { a: 1 }, private_metadata: { b: 2 },
    })
    assert.equal(created.status, 200)
    // Not sent for this endpoint: it takes user events only.
    await api.post('/v1/invitations', { email_address: uniqueEmail(), notify: false })
    await deliverAll()
    assert.equal((await api.delete(`/v1/users/${created.body.id}`)).status, 200)
    await deliverAll()

    assert.equal(receiver.received.length, 2)
    const [first, second] = receiver.received.map((r) => {
      assert.ok(r.verified.ok, `svix verification failed: ${JSON.stringify(r.verified)}`)
      return r.verified.event
    })
    assertMatchesSpec(webhookEventValidator('user.created'), first, 'user.created payload')
    assertMatchesSpec(webhookEventValidator('user.deleted'), second, 'user.deleted payload')
    assert.deepEqual(first, { data: created.body, object: 'event', type: 'user.created', timestamp: created.body.created_at, instance_id: instance.id })
    assert.deepEqual(second.data, { object: 'user', id: created.body.id, deleted: true })
    assert.equal(second.type, 'user.deleted')
    assert.equal(second.instance_id, instance.id)
    assert.notEqual(receiver.received[0]!.headers['svix-id'], receiver.received[1]!.headers['svix-id'])

    // The delivery log keeps only what does not hold the deleted user's address.
    const log = await api.get(`/v1/webhooks/endpoints/${endpoint.body.id}/deliveries`)
    assert.deepEqual(log.body.map((d: any) => [d.event_type, d.status]), [['user.deleted', 'delivered']])
  })
})
