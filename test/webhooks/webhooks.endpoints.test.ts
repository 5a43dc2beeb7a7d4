import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'

// Port 9 refuses at once: endpoints that events fan out to here fail fast, with no DNS lookups.
const URL_A = 'http://127.0.0.1:9/foyer'
const SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`

forEachDatabase('webhook endpoints API', (engine) => {
  let t: TestApp
  let api: Client
  let other: Client
  before(async () => {
    t = await buildTestApp({ engine })
    api = client(t.app, (await t.newInstance()).secretKey)
    other = client(t.app, (await t.newInstance('Other')).secretKey)
  })
  after(() => t.close())

  const expect422 = (res: { status: number; body: any }, param: string, code = /^form_param_/) => {
    assert.equal(res.status, 422, JSON.stringify(res.body))
    assert.match(res.body.errors[0].code, code)
    assert.equal(res.body.errors[0].meta.param_name, param)
    assert.equal(typeof res.body.clerk_trace_id, 'string')
  }

  describe('POST /v1/webhooks/endpoints', () => {
    it('creates an enabled endpoint for all events with a generated whsec_ secret of 24 bytes, shown once', async () => {
      const res = await api.post('/v1/webhooks/endpoints', { url: URL_A })
      assert.equal(res.status, 200)
      assert.match(res.body.id, /^ep_[0-9A-Za-z]{27}$/)
      assert.equal(res.body.object, 'webhook_endpoint')
      assert.equal(res.body.url, URL_A)
      assert.deepEqual(res.body.event_types, [])
      assert.equal(res.body.enabled, true)
      assert.match(res.body.secret, /^whsec_/)
      assert.equal(Buffer.from(res.body.secret.slice('whsec_'.length), 'base64').length, 24)
      const read = await api.get(`/v1/webhooks/endpoints/${res.body.id}`)
      assert.equal(read.status, 200)
      assert.equal(read.body.secret, undefined, 'reads never show the secret')
      assert.equal(read.body.url, URL_A)
    })

    it('keeps a given secret, event types and enabled flag', async () => {
      const res = await api.post('/v1/webhooks/endpoints', { url: 'http://localhost:4000/hook', secret: SECRET, event_types: ['invitation.created', 'user.created'], enabled: false })
      assert.equal(res.status, 200)
      assert.equal(res.body.secret, SECRET)
      assert.deepEqual(res.body.event_types, ['invitation.created', 'user.created'])
      assert.equal(res.body.enabled, false)
    })

    it('refuses a url that is not http(s), not a URL, or carries credentials, with 422 naming url', async () => {
      for (const url of ['ftp://example.com/hook', 'javascript:alert(1)', 'not a url', '/relative', 'https://user:pw@example.com/hook']) {
        expect422(await api.post('/v1/webhooks/endpoints', { url }), 'url', /^form_param_format_invalid$/)
      }
      expect422(await api.post('/v1/webhooks/endpoints', {}), 'url', /^form_param_missing$/)
    })

    it('refuses a secret that is not whsec_ base64, with 422 naming secret', async () => {
      for (const secret of ['abc', 'whsec_short', 'sk_test_0123456789abcdefghijklmnop', 'whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!']) {
        expect422(await api.post('/v1/webhooks/endpoints', { url: URL_A, secret }), 'secret', /^form_param_format_invalid$/)
      }
    })

    it('refuses an unknown event type, and unknown fields, with 422 naming them', async () => {
      const res = await api.post('/v1/webhooks/endpoints', { url: URL_A, event_types: ['invitation.created', 'user.exploded'] })
      expect422(res, 'event_types[1]', /^form_param_value_invalid$/)
      assert.match(res.body.errors[0].long_message, /invitation\.revoked/)
      expect422(await api.post('/v1/webhooks/endpoints', { url: URL_A, events: [] }), 'events', /^form_param_unknown$/)
      expect422(await api.post('/v1/webhooks/endpoints', { url: URL_A, enabled: 'yes' }), 'enabled', /^form_param_type_invalid$/)
    })
  })

  describe('GET /v1/webhooks/endpoints', () => {
    it('lists only this instance\'s endpoints, newest first, plain or paginated', async () => {
      const { secretKey } = await t.newInstance()
      const own = client(t.app, secretKey)
      const ids: string[] = []
      for (let i = 0; i < 3; i++) {
        ids.push((await own.post('/v1/webhooks/endpoints', { url: `${URL_A}/${i}` })).body.id)
        t.clock.advance(1)
      }
      const plain = await own.get('/v1/webhooks/endpoints')
      assert.equal(plain.status, 200)
      assert.deepEqual(plain.body.map((e: any) => e.id), [...ids].reverse())
      assert.ok(plain.body.every((e: any) => e.secret === undefined))
      const paged = await own.get('/v1/webhooks/endpoints?paginated=true&limit=2&offset=1')
      assert.equal(paged.body.total_count, 3)
      assert.deepEqual(paged.body.data.map((e: any) => e.id), [ids[1], ids[0]])
      const past = await own.get('/v1/webhooks/endpoints?paginated=true&offset=10')
      assert.deepEqual(past.body, { data: [], total_count: 3 })
      expect422(await own.get('/v1/webhooks/endpoints?limit=0'), 'limit')
    })
  })

  describe('PATCH and DELETE /v1/webhooks/endpoints/{id}', () => {
    it('changes only the fields sent', async () => {
      const { body: ep } = await api.post('/v1/webhooks/endpoints', { url: URL_A, event_types: ['invitation.created'] })
      t.clock.advance(1000)
      const res = await api.patch(`/v1/webhooks/endpoints/${ep.id}`, { enabled: false })
      assert.equal(res.status, 200)
      assert.equal(res.body.enabled, false)
      assert.equal(res.body.url, URL_A)
      assert.deepEqual(res.body.event_types, ['invitation.created'])
      assert.ok(res.body.updated_at > ep.updated_at)
      const res2 = await api.patch(`/v1/webhooks/endpoints/${ep.id}`, { url: 'https://other.example.com/x', event_types: [], secret: SECRET })
      assert.equal(res2.body.url, 'https://other.example.com/x')
      assert.deepEqual(res2.body.event_types, [])
      assert.equal(res2.body.enabled, false)
      assert.equal(res2.body.secret, undefined)
      expect422(await api.patch(`/v1/webhooks/endpoints/${ep.id}`, { url: 'gopher://x' }), 'url')
      expect422(await api.patch(`/v1/webhooks/endpoints/${ep.id}`, { secret: 'nope' }), 'secret')
      expect422(await api.patch(`/v1/webhooks/endpoints/${ep.id}`, { event_types: ['nope'] }), 'event_types[0]')
    })

    it('deletes an endpoint with its log; it is then not found', async () => {
      const { body: ep } = await api.post('/v1/webhooks/endpoints', { url: 'http://127.0.0.1:9/unreachable' })
      await makeInvitation(api)
      await t.outboxWorker.drain()
      const log = await api.get(`/v1/webhooks/endpoints/${ep.id}/deliveries`)
      assert.equal(log.body.length, 1)
      const res = await api.delete(`/v1/webhooks/endpoints/${ep.id}`)
      assert.equal(res.status, 200)
      assert.deepEqual(res.body, { object: 'webhook_endpoint', id: ep.id, deleted: true })
      assert.equal((await api.get(`/v1/webhooks/endpoints/${ep.id}`)).status, 404)
      assert.equal((await api.delete(`/v1/webhooks/endpoints/${ep.id}`)).status, 404)
      assert.equal((await api.post(`/v1/webhooks/deliveries/${log.body[0].id}/retry`)).status, 404)
      const left = await t.db.query('select id from outbox where id = $1', [log.body[0].id])
      assert.equal(left.length, 0, 'nothing still queued for a deleted endpoint')
    })
  })

  describe('other instances', () => {
    it('answers 404 for another instance\'s endpoint or delivery, whatever the route', async () => {
      const { body: ep } = await api.post('/v1/webhooks/endpoints', { url: 'http://127.0.0.1:9/unreachable' })
      await makeInvitation(api)
      await t.outboxWorker.drain()
      const [delivery] = (await api.get(`/v1/webhooks/endpoints/${ep.id}/deliveries`)).body
      assert.ok(delivery)
      const responses = [
        await other.get(`/v1/webhooks/endpoints/${ep.id}`),
        await other.patch(`/v1/webhooks/endpoints/${ep.id}`, { enabled: false }),
        await other.delete(`/v1/webhooks/endpoints/${ep.id}`),
        await other.get(`/v1/webhooks/endpoints/${ep.id}/deliveries`),
        await other.post(`/v1/webhooks/deliveries/${delivery.id}/retry`),
        await api.get('/v1/webhooks/endpoints/ep_doesnotexist'),
      ]
      for (const res of responses) {
        assert.equal(res.status, 404)
        assert.equal(res.body.errors[0].code, 'resource_not_found')
      }
      assert.equal((await api.get(`/v1/webhooks/endpoints/${ep.id}`)).body.enabled, true, 'untouched')
      assert.ok(!(await other.get('/v1/webhooks/endpoints')).body.some((e: any) => e.id === ep.id))
    })

    it('requires a secret key', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/v1/webhooks/endpoints' })
      assert.equal(res.statusCode, 401)
    })
  })

  describe('the configured endpoint (FOYER_WEBHOOK_URL)', () => {
    it('is created once, updated in place on a later start, and disabled when no longer configured', async () => {
      const { instance, secretKey } = await t.newInstance()
      const own = client(t.app, secretKey)
      await t.services.webhooks.syncConfigEndpoint(instance.id, URL_A, SECRET)
      await t.services.webhooks.syncConfigEndpoint(instance.id, URL_A, SECRET)
      let list = (await own.get('/v1/webhooks/endpoints')).body
      assert.equal(list.length, 1)
      assert.equal(list[0].url, URL_A)
      assert.equal(list[0].enabled, true)
      const id = list[0].id

      await t.services.webhooks.syncConfigEndpoint(instance.id, 'https://new.example.com/hook', SECRET)
      list = (await own.get('/v1/webhooks/endpoints')).body
      assert.deepEqual(list.map((e: any) => [e.id, e.url]), [[id, 'https://new.example.com/hook']])

      await t.services.webhooks.syncConfigEndpoint(instance.id, null, null)
      list = (await own.get('/v1/webhooks/endpoints')).body
      assert.deepEqual(list.map((e: any) => [e.id, e.enabled]), [[id, false]])
    })
  })
})
