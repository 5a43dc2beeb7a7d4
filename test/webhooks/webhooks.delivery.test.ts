import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Webhook } from 'svix'
import { buildTestApp, client, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { createOutboxWorker } from '../../src/platform/outbox/outbox.worker.js'
import { RETRY_DELAYS_MS } from '../../src/webhooks/webhooks.dispatcher.js'
import { startReceiver } from './receiver.js'
import { assertMatchesSpec, webhookEventValidator } from '../helpers/spec.js'

// buildTestApp sets FOYER_TESTING=1, under which the schedule runs 1000 times faster.
const retryDelay = (n: number) => RETRY_DELAYS_MS[n]! / 1000

const INVITATION_KEYS = ['object', 'id', 'email_address', 'public_metadata', 'revoked', 'status', 'url', 'expires_at', 'created_at', 'updated_at']

forEachDatabase('webhook delivery', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  /** A new instance with one endpoint pointing at a new receiver that answers `respond(n)`. */
  async function setup(respond?: (n: number) => number, endpoint: Record<string, unknown> = {}) {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    let secret = ''
    const receiver = await startReceiver(() => secret, respond)
    const res = await api.post('/v1/webhooks/endpoints', { url: receiver.url, ...endpoint })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    secret = res.body.secret
    return { instance, api, receiver, endpoint: res.body, secret }
  }

  /** Fan-out, then delivery. */
  const deliverAll = async () => {
    await t.outboxWorker.drain()
    await t.outboxWorker.drain()
  }

  const deliveries = async (api: Client, endpointId: string) => {
    const res = await api.get(`/v1/webhooks/endpoints/${endpointId}/deliveries`)
    assert.equal(res.status, 200)
    return res.body as any[]
  }

  describe('signed delivery', () => {
    it('sends invitation.created then invitation.revoked, verifiable with svix, with the invitation\'s link', async (ctx) => {
      const { instance, api, receiver, endpoint } = await setup()
      ctx.after(receiver.close)

      const created = await makeInvitation(api)
      await deliverAll()
      const revoked = await api.post(`/v1/invitations/${created.id}/revoke`)
      assert.equal(revoked.status, 200)
      await deliverAll()

      assert.equal(receiver.received.length, 2)
      const [first, second] = receiver.received
      for (const r of [first!, second!]) {
        assert.ok(r.verified.ok, `svix verification failed: ${JSON.stringify(r.verified)}`)
        assert.equal(r.headers['content-type'], 'application/json')
        assert.match(r.headers['svix-signature']!, /^v1,/)
      }
      const a = JSON.parse(first!.body)
      const b = JSON.parse(second!.body)
      assert.equal(a.type, 'invitation.created')
      assert.equal(b.type, 'invitation.revoked')
      for (const event of [a, b]) {
        assert.equal(event.object, 'event')
        assert.equal(event.instance_id, instance.id)
        assert.equal(typeof event.timestamp, 'number')
        assert.deepEqual(Object.keys(event.data), INVITATION_KEYS)
        assert.equal(event.data.id, created.id)
        assert.equal(event.data.url, created.url, 'the link is derived again at delivery')
      }
      assert.equal(a.data.status, 'pending')
      assert.equal(b.data.status, 'revoked')
      assert.equal(b.data.revoked, true)
      assert.notEqual(first!.headers['svix-id'], second!.headers['svix-id'])

      // The log: newest first, one attempt each.
      const log = await deliveries(api, endpoint.id)
      assert.deepEqual(log.map((d) => [d.event_type, d.status, d.attempts.length]), [
        ['invitation.revoked', 'delivered', 1], ['invitation.created', 'delivered', 1],
      ])
      assert.equal(log[1].event_id, first!.headers['svix-id'])
      assert.equal(log[1].attempts[0].status_code, 200)

      // Sent again on request: the same svix-id, so the receiver can tell it is a duplicate.
      const retried = await api.post(`/v1/webhooks/deliveries/${log[1].id}/retry`)
      assert.equal(retried.status, 200)
      assert.equal(retried.body.status, 'pending')
      await t.outboxWorker.drain()
      assert.equal(receiver.received.length, 3)
      assert.ok(receiver.received[2]!.verified.ok)
      assert.equal(receiver.received[2]!.headers['svix-id'], first!.headers['svix-id'])
      assert.equal(JSON.parse(receiver.received[2]!.body).type, 'invitation.created')
    })

    it('sends each event to every matching endpoint under one svix-id, and nothing to disabled ones', async (ctx) => {
      const all = await setup()
      ctx.after(all.receiver.close)
      const api = all.api
      let revokedSecret = ''
      const revokedOnly = await startReceiver(() => revokedSecret)
      ctx.after(revokedOnly.close)
      const disabledReceiver = await startReceiver(() => '')
      ctx.after(disabledReceiver.close)
      const r1 = await api.post('/v1/webhooks/endpoints', { url: revokedOnly.url, event_types: ['invitation.revoked'] })
      revokedSecret = r1.body.secret
      assert.deepEqual(r1.body.event_types, ['invitation.revoked'])
      const r2 = await api.post('/v1/webhooks/endpoints', { url: disabledReceiver.url, enabled: false })
      assert.equal(r2.body.enabled, false)

      const inv = await makeInvitation(api)
      await deliverAll()
      await api.post(`/v1/invitations/${inv.id}/revoke`)
      await deliverAll()

      assert.deepEqual(all.receiver.received.map((r) => JSON.parse(r.body).type), ['invitation.created', 'invitation.revoked'])
      assert.deepEqual(revokedOnly.received.map((r) => JSON.parse(r.body).type), ['invitation.revoked'])
      assert.ok(revokedOnly.received[0]!.verified.ok, 'signed with its own endpoint\'s secret')
      assert.equal(revokedOnly.received[0]!.headers['svix-id'], all.receiver.received[1]!.headers['svix-id'])
      assert.equal(disabledReceiver.received.length, 0)
      assert.deepEqual(await deliveries(api, r2.body.id), [])
    })

    it('sends nothing to an endpoint disabled after the event was queued', async (ctx) => {
      const { api, receiver, endpoint } = await setup()
      ctx.after(receiver.close)
      await makeInvitation(api)
      // Only the fan-out runs: the delivery is queued, then the endpoint is disabled.
      await createOutboxWorker({ db: t.db, store: t.services.outbox, clock: t.clock, kinds: { webhook: t.services.deliveries.webhook! } }).drain()
      assert.equal((await deliveries(api, endpoint.id)).length, 1)
      await api.patch(`/v1/webhooks/endpoints/${endpoint.id}`, { enabled: false })
      await deliverAll()
      assert.equal(receiver.received.length, 0)
    })

    it('leaves url out when the invitation no longer exists at delivery', async (ctx) => {
      const { receiver, api } = await setup()
      ctx.after(receiver.close)
      const inv = await makeInvitation(api)
      // Gone without the API (which would purge its events too): nothing is left to derive the link from.
      await t.db.query('delete from invitations where id = $1', [inv.id])
      await deliverAll()
      assert.equal(receiver.received.length, 1)
      assert.ok(receiver.received[0]!.verified.ok)
      const { data } = JSON.parse(receiver.received[0]!.body)
      assert.equal(data.id, inv.id)
      assert.equal('url' in data, false)
    })

    it('sends nothing more about an invitation deleted through the API', async (ctx) => {
      const { receiver, api, endpoint } = await setup()
      ctx.after(receiver.close)
      const inv = await makeInvitation(api)
      await createOutboxWorker({ db: t.db, store: t.services.outbox, clock: t.clock, kinds: { webhook: t.services.deliveries.webhook! } }).drain()
      assert.equal((await deliveries(api, endpoint.id)).length, 1)
      assert.equal((await api.delete(`/v1/invitations/${inv.id}`)).status, 200)
      await deliverAll()
      assert.equal(receiver.received.length, 0)
      assert.deepEqual(await deliveries(api, endpoint.id), [])
    })

    it('announces each invitation email once with email.created, its bodies carrying the current link', async (ctx) => {
      const { instance, api, receiver } = await setup(undefined, { event_types: ['email.created'] })
      ctx.after(receiver.close)
      const inv = await makeInvitation(api, { notify: true, public_metadata: { team: '<b>ops</b>' } })
      // The email is sent (queuing its event), then the event fans out, then it is delivered.
      await deliverAll()
      await t.outboxWorker.drain()
      assert.equal(receiver.received.length, 1)
      const [r] = receiver.received
      assert.ok(r!.verified.ok, 'verifiable with svix')
      const event = JSON.parse(r!.body)
      assertMatchesSpec(webhookEventValidator('email.created'), event, 'email.created')
      assert.equal(event.type, 'email.created')
      assert.equal(event.instance_id, instance.id)
      assert.deepEqual(Object.keys(event.data), ['id', 'object', 'slug', 'from_email_name', 'reply_to_email_name', 'to_email_address',
        'email_address_id', 'user_id', 'subject', 'body', 'body_plain', 'status', 'data', 'delivered_by_clerk'])
      assert.equal(event.data.object, 'email')
      assert.equal(event.data.slug, 'invitation')
      assert.equal(event.data.to_email_address, inv.email_address)
      assert.equal(event.data.from_email_name, 'no-reply')
      assert.equal(event.data.status, 'queued')
      assert.equal(event.data.delivered_by_clerk, true)
      assert.equal(event.data.data.invitation_id, inv.id)
      assert.equal(event.data.data.url, inv.url)
      assert.ok(event.data.body.includes(inv.url.replaceAll('&', '&amp;')), 'the HTML body carries the link')
      assert.ok(event.data.body_plain.includes(inv.url), 'the text body carries the link')

      // The stored event holds no working link: bodies are rendered again when it is sent.
      const ticket = new URL(inv.url).searchParams.get('ticket')!
      const stored = await t.db.query<{ payload: string }>(`select payload::text as payload from outbox where kind = 'webhook' and topic = 'email.created' and instance_id = $1`, [instance.id])
      assert.equal(stored.length, 1)
      assert.equal(stored[0]!.payload.includes(ticket), false)

      // The email sent again (a redelivery after a crash, say) announces nothing new.
      await t.db.query(`update outbox set status = 'pending', next_attempt_at = 0 where kind = 'email' and subject_id = $1`, [inv.id])
      await deliverAll()
      await t.outboxWorker.drain()
      assert.equal(receiver.received.length, 1)
    })

    it('sends no email.created for an invitation created with notify: false', async (ctx) => {
      const { api, receiver } = await setup()
      ctx.after(receiver.close)
      await makeInvitation(api)
      await deliverAll()
      await t.outboxWorker.drain()
      assert.deepEqual(receiver.received.map((r) => JSON.parse(r.body).type), ['invitation.created'])
    })

    it('instances never receive each other\'s events', async (ctx) => {
      const one = await setup()
      const two = await setup()
      ctx.after(one.receiver.close)
      ctx.after(two.receiver.close)
      await makeInvitation(one.api)
      await deliverAll()
      assert.equal(one.receiver.received.length, 1)
      assert.equal(two.receiver.received.length, 0)
    })
  })

  describe('retries', () => {
    it('retries a failing receiver on the schedule until it answers 2xx, and logs every attempt', async (ctx) => {
      const { api, receiver, endpoint } = await setup((n) => (n <= 2 ? 500 : 204))
      ctx.after(receiver.close)
      await makeInvitation(api)
      await deliverAll()
      assert.equal(receiver.received.length, 1)

      let [log] = await deliveries(api, endpoint.id)
      assert.equal(log.status, 'pending')
      assert.equal(log.last_error, 'HTTP 500')
      assert.ok(log.next_attempt_at > t.clock.now(), 'the retry waits')
      await deliverAll()
      assert.equal(receiver.received.length, 1, 'nothing is sent before its time')

      t.clock.advance(retryDelay(0))
      await t.outboxWorker.drain()
      assert.equal(receiver.received.length, 2)
      t.clock.advance(retryDelay(1))
      await t.outboxWorker.drain()
      assert.equal(receiver.received.length, 3)

      ;[log] = await deliveries(api, endpoint.id)
      assert.equal(log.status, 'delivered')
      assert.equal(log.last_error, null)
      assert.deepEqual(log.attempts.map((a: any) => [a.status_code, a.error]), [[500, 'HTTP 500'], [500, 'HTTP 500'], [204, null]])
      for (const a of log.attempts) assert.equal(typeof a.duration_ms, 'number')
      assert.ok(receiver.received.every((r) => r.verified.ok))
      assert.equal(new Set(receiver.received.map((r) => r.headers['svix-id'])).size, 1, 'one svix-id across retries')
    })

    it('gives up after the last scheduled attempt, then delivers once retried by hand', async (ctx) => {
      let up = false
      const { api, receiver, endpoint } = await setup(() => (up ? 200 : 503))
      ctx.after(receiver.close)
      await makeInvitation(api)
      await deliverAll()
      for (let i = 0; i < RETRY_DELAYS_MS.length; i++) {
        t.clock.advance(retryDelay(i))
        await t.outboxWorker.drain()
      }
      let [log] = await deliveries(api, endpoint.id)
      assert.equal(log.status, 'failed')
      assert.equal(log.attempts.length, RETRY_DELAYS_MS.length + 1)
      t.clock.advance(retryDelay(RETRY_DELAYS_MS.length - 1))
      await t.outboxWorker.drain()
      assert.equal(receiver.received.length, RETRY_DELAYS_MS.length + 1, 'a failed delivery is not tried again by itself')

      up = true
      const retried = await api.post(`/v1/webhooks/deliveries/${log.id}/retry`)
      assert.equal(retried.status, 200)
      assert.equal(retried.body.status, 'pending')
      await t.outboxWorker.drain()
      ;[log] = await deliveries(api, endpoint.id)
      assert.equal(log.status, 'delivered')
      assert.equal(log.attempts.at(-1).status_code, 200)
    })

    it('counts a refused connection as a failed attempt', async () => {
      const { instance: _i, api, receiver, endpoint } = await setup()
      await receiver.close()
      await makeInvitation(api)
      await deliverAll()
      const [log] = await deliveries(api, endpoint.id)
      assert.equal(log.status, 'pending')
      assert.equal(log.attempts.length, 1)
      assert.equal(log.attempts[0].status_code, null)
      assert.ok(log.attempts[0].error)
    })
  })

  describe('signature', () => {
    it('fails svix verification when one byte of the body or of the signature changes', async (ctx) => {
      const { api, receiver, secret } = await setup()
      ctx.after(receiver.close)
      await makeInvitation(api)
      await deliverAll()
      const [r] = receiver.received
      assert.ok(r!.verified.ok)
      const wh = new Webhook(secret)
      assert.ok(wh.verify(r!.body, r!.headers))

      const flip = (s: string, i: number) => s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ 1) + s.slice(i + 1)
      assert.throws(() => wh.verify(flip(r!.body, 20), r!.headers))
      const sig = r!.headers['svix-signature']!
      assert.throws(() => wh.verify(r!.body, { ...r!.headers, 'svix-signature': flip(sig, sig.length - 5) }))
      assert.throws(() => new Webhook(`whsec_${Buffer.alloc(24, 7).toString('base64')}`).verify(r!.body, r!.headers), 'another secret')
    })
  })
})
