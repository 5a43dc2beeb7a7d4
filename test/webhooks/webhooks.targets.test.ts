import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, type Client, type Reply, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { loadConfig, ConfigError } from '../../src/config.js'
import { RETRY_LIMITS } from '../../src/webhooks/webhooks.retry-limit.js'
import { createWebhookStore } from '../../src/webhooks/webhooks.store.js'
import { startReceiver } from './receiver.js'

const SECRET = `whsec_${Buffer.alloc(24, 9).toString('base64')}`
// Documentation-free public addresses; nothing is ever sent to them (no delivery is run while
// a name answers one).
const PUBLIC_V4 = '93.184.215.14'
const PUBLIC_V6 = '2606:4700:4700::1111'

/**
 * Answers the names the tests use; `rebind.test` answers a public address until `rebound` is
 * set, then 127.0.0.1, as a hostile DNS server would between saving and sending.
 */
function fakeDns() {
  const state = { rebound: false, lookups: [] as string[] }
  const names: Record<string, () => string[]> = {
    'hooks.public.test': () => [PUBLIC_V4, PUBLIC_V6],
    'internal.test': () => ['10.0.0.5'],
    'metadata.test': () => ['169.254.169.254'],
    'mixed.test': () => [PUBLIC_V4, '127.0.0.1'],
    'ula.test': () => [PUBLIC_V6, 'fd12:3456::1'],
    'mapped.test': () => ['::ffff:127.0.0.1'],
    'rebind.test': () => (state.rebound ? ['127.0.0.1'] : [PUBLIC_V4]),
  }
  const resolveHost = async (hostname: string) => {
    state.lookups.push(hostname)
    const answer = names[hostname]
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
    return answer()
  }
  return { state, resolveHost }
}

const REFUSED = [
  'http://0x7f000001/', 'http://2130706433/', 'http://0177.0.0.1/', 'http://127.1/', 'http://127.0.0.1:8080/x',
  'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/', 'http://[::127.0.0.1]/',
  'http://0.0.0.0/', 'http://0/', 'http://[::]/', 'http://localhost:3000/', 'http://LOCALHOST./', 'http://api.localhost/',
  'http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/', 'http://10.1.2.3/', 'http://172.16.0.1/', 'http://172.31.255.254/',
  'http://192.168.1.1/', 'http://100.64.0.1/', 'http://[fc00::1]/', 'http://[fd00::1]/', 'http://224.0.0.1/', 'http://[ff02::1]/',
  'http://255.255.255.255/', 'http://240.0.0.1/', 'http://192.0.2.1/', 'http://198.18.0.1/',
  // IPv6 that carries an IPv4 address: 6to4 (127.0.0.1), Teredo, NAT64.
  'http://[2002:7f00:1::]/', 'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', 'http://[64:ff9b::7f00:1]/',
  // Names: resolving to a private address, to one private address among public ones, or not at all.
  'https://internal.test/hook', 'https://metadata.test/', 'https://mixed.test/hook', 'https://ula.test/hook', 'https://mapped.test/hook',
  'https://nowhere.test/hook',
]

const expectRefused = (res: Reply, url: string) => {
  assert.equal(res.status, 422, `${url}: ${JSON.stringify(res.body)}`)
  const [error] = res.body.errors
  assert.equal(error.code, 'form_param_format_invalid', url)
  assert.deepEqual(error.meta, { param_name: 'url' }, url)
  assert.equal(error.long_message,
    'url must be on the public internet; the address it points to is not allowed.', url)
}

forEachDatabase('webhook targets', (engine) => {
  let t: TestApp
  const dns = fakeDns()
  before(async () => {
    t = await buildTestApp({ engine, env: { FOYER_WEBHOOK_ALLOW_PRIVATE: '0' }, resolveHost: dns.resolveHost })
  })
  after(() => t.close())

  const newApi = async () => {
    const { instance, secretKey } = await t.newInstance()
    return { instance, api: client(t.app, secretKey) }
  }
  const deliverAll = async () => {
    await t.outboxWorker.drain()
    await t.outboxWorker.drain()
  }
  const deliveries = async (api: Client, endpointId: string) => {
    const res = await api.get(`/v1/webhooks/endpoints/${endpointId}/deliveries`)
    assert.equal(res.status, 200)
    return res.body as any[]
  }

  describe('POST and PATCH /v1/webhooks/endpoints', () => {
    // @see issue 12
    it('refuses loopback, private, link-local and other non-public targets in every notation with 422 naming url', async () => {
      const { api } = await newApi()
      for (const url of REFUSED) expectRefused(await api.post('/v1/webhooks/endpoints', { url, secret: SECRET }), url)
      assert.deepEqual((await api.get('/v1/webhooks/endpoints')).body, [], 'nothing was saved')

      const { body: ep } = await api.post('/v1/webhooks/endpoints', { url: 'https://hooks.public.test/hook' })
      for (const url of ['http://0x7f000001:6379/', 'http://[::ffff:127.0.0.1]/', 'https://internal.test/']) {
        expectRefused(await api.patch(`/v1/webhooks/endpoints/${ep.id}`, { url }), url)
      }
      assert.equal((await api.get(`/v1/webhooks/endpoints/${ep.id}`)).body.url, 'https://hooks.public.test/hook')
    })

    it('accepts public addresses and names that resolve only to public addresses', async () => {
      const { api } = await newApi()
      for (const url of ['https://hooks.public.test/hook', `http://${PUBLIC_V4}/hook`, `https://[${PUBLIC_V6}]/hook`]) {
        const res = await api.post('/v1/webhooks/endpoints', { url })
        assert.equal(res.status, 200, `${url}: ${JSON.stringify(res.body)}`)
      }
      assert.ok(dns.state.lookups.includes('hooks.public.test'))
    })
  })

  describe('delivery', () => {
    // @see issue 12
    it('refuses at send time a name that now resolves to 127.0.0.1 (DNS rebinding): nothing reaches the receiver, no retry', async (ctx) => {
      const receiver = await startReceiver(() => '')
      ctx.after(receiver.close)
      const { api } = await newApi()
      const port = new URL(receiver.url).port
      const created = await api.post('/v1/webhooks/endpoints', { url: `http://rebind.test:${port}/hooks` })
      assert.equal(created.status, 200, JSON.stringify(created.body))
      dns.state.rebound = true
      ctx.after(() => { dns.state.rebound = false })

      const lookups = dns.state.lookups.length
      await makeInvitation(api)
      await deliverAll()
      assert.ok(dns.state.lookups.slice(lookups).includes('rebind.test'), 'the name was resolved again to connect')
      const [delivery] = await deliveries(api, created.body.id)
      assert.equal(receiver.received.length, 0)
      assert.equal(delivery.status, 'failed', 'not retried')
      assert.equal(delivery.next_attempt_at, null)
      assert.equal(delivery.last_error, 'target address not allowed')
      assert.deepEqual(delivery.attempts.map((a: any) => [a.status_code, a.error]), [[null, 'target address not allowed']])

      // Retried by hand: refused again, still without reaching the receiver.
      assert.equal((await api.post(`/v1/webhooks/deliveries/${delivery.id}/retry`)).status, 200)
      await t.outboxWorker.drain()
      assert.equal(receiver.received.length, 0)
      assert.deepEqual((await deliveries(api, created.body.id))[0].attempts.map((a: any) => a.error),
        ['target address not allowed', 'target address not allowed'])
    })

    // @see issue 12
    it('refuses at send time an endpoint stored with a loopback address, without a status code or connection error', async (ctx) => {
      const receiver = await startReceiver(() => '')
      ctx.after(receiver.close)
      const { instance, api } = await newApi()
      // As saved before this check existed, or while FOYER_WEBHOOK_ALLOW_PRIVATE was set.
      const now = Date.now()
      const ep = await createWebhookStore().insertEndpoint(t.db, {
        id: `ep_stored${now}`, instance_id: instance.id, url: receiver.url.replace('127.0.0.1', '0x7f000001'), secret: SECRET,
        event_types: [], enabled: true, from_config: false, created_at: now, updated_at: now,
      })
      await makeInvitation(api)
      await deliverAll()
      assert.equal(receiver.received.length, 0)
      const [delivery] = await deliveries(api, ep.id)
      assert.equal(delivery.status, 'failed')
      assert.deepEqual(delivery.attempts.map((a: any) => [a.status_code, a.error]), [[null, 'target address not allowed']])
    })

    it('still delivers to the configured endpoint (FOYER_WEBHOOK_URL) on 127.0.0.1', async (ctx) => {
      const receiver = await startReceiver(() => SECRET)
      ctx.after(receiver.close)
      const own = await buildTestApp({
        engine, resolveHost: dns.resolveHost,
        env: { FOYER_WEBHOOK_ALLOW_PRIVATE: '0', FOYER_WEBHOOK_URL: receiver.url, FOYER_WEBHOOK_SECRET: SECRET },
      })
      ctx.after(() => own.close())
      const { instance, secretKey } = await own.newInstance()
      // As main.ts does at start for the default instance.
      await own.services.webhooks.syncConfigEndpoint(instance.id, own.config.webhookUrl, own.config.webhookSecret)
      await makeInvitation(client(own.app, secretKey))
      await own.outboxWorker.drain()
      await own.outboxWorker.drain()
      assert.equal(receiver.received.length, 1)
      assert.ok(receiver.received[0]!.verified.ok)
    })

    // @see issue 12
    it('checks the configured endpoint like any other once its url is changed through the API', async (ctx) => {
      const receiver = await startReceiver(() => SECRET)
      ctx.after(receiver.close)
      const own = await buildTestApp({
        engine, resolveHost: dns.resolveHost,
        env: { FOYER_WEBHOOK_ALLOW_PRIVATE: '0', FOYER_WEBHOOK_URL: 'http://127.0.0.1:9/operator', FOYER_WEBHOOK_SECRET: SECRET },
      })
      ctx.after(() => own.close())
      const { instance, secretKey } = await own.newInstance()
      const api = client(own.app, secretKey)
      await own.services.webhooks.syncConfigEndpoint(instance.id, own.config.webhookUrl, own.config.webhookSecret)
      const [configured] = (await api.get('/v1/webhooks/endpoints')).body
      const patched = await api.patch(`/v1/webhooks/endpoints/${configured.id}`, { url: `http://rebind.test:${new URL(receiver.url).port}/hooks` })
      assert.equal(patched.status, 200, JSON.stringify(patched.body))
      dns.state.rebound = true
      ctx.after(() => { dns.state.rebound = false })
      await makeInvitation(api)
      await own.outboxWorker.drain()
      await own.outboxWorker.drain()
      assert.equal(receiver.received.length, 0)
      const [delivery] = await deliveries(api, configured.id)
      assert.equal(delivery.last_error, 'target address not allowed')
    })
  })

  describe('POST /v1/webhooks/deliveries/{id}/retry', () => {
    // @see issue 12
    it(`allows ${RETRY_LIMITS.perEndpoint} retries per endpoint and ${RETRY_LIMITS.perInstance} per instance an hour, then 429 with Retry-After`, async (ctx) => {
      const { api } = await newApi()
      dns.state.rebound = true
      ctx.after(() => { dns.state.rebound = false })
      // Endpoints whose deliveries are refused at send time: retries reach no network.
      const endpointCount = RETRY_LIMITS.perInstance / RETRY_LIMITS.perEndpoint + 1
      const endpointIds: string[] = []
      for (let i = 0; i < endpointCount; i++) {
        dns.state.rebound = false
        endpointIds.push((await api.post('/v1/webhooks/endpoints', { url: `https://rebind.test/${i}` })).body.id)
        dns.state.rebound = true
      }
      await makeInvitation(api)
      await deliverAll()
      const deliveryIds = await Promise.all(endpointIds.map(async (id) => (await deliveries(api, id))[0].id as string))

      const retry = (id: string) => api.post(`/v1/webhooks/deliveries/${id}/retry`)
      for (let i = 0; i < RETRY_LIMITS.perEndpoint; i++) assert.equal((await retry(deliveryIds[0]!)).status, 200)
      const limited = await retry(deliveryIds[0]!)
      assert.equal(limited.status, 429)
      assert.equal(limited.body.errors[0].code, 'too_many_requests')
      assert.match(limited.body.errors[0].long_message, new RegExp(`${RETRY_LIMITS.perEndpoint} times per hour for this endpoint`))
      assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After is set')

      // Other endpoints have their own budget, up to the instance's.
      for (const id of deliveryIds.slice(1, -1)) {
        for (let i = 0; i < RETRY_LIMITS.perEndpoint; i++) assert.equal((await retry(id)).status, 200)
      }
      const overInstance = await retry(deliveryIds.at(-1)!)
      assert.equal(overInstance.status, 429)
      assert.match(overInstance.body.errors[0].long_message, new RegExp(`${RETRY_LIMITS.perInstance} times per hour for this instance`))
      assert.equal((await retry('msg_unknown')).status, 404, 'an unknown delivery is not found, limit or not')
    })
  })
})

forEachDatabase('FOYER_WEBHOOK_ALLOW_PRIVATE', (engine) => {
  it('lets endpoints target private networks and loopback when set', async (ctx) => {
    const t = await buildTestApp({ engine, env: { FOYER_WEBHOOK_ALLOW_PRIVATE: 'true' } })
    ctx.after(() => t.close())
    let secret = ''
    const receiver = await startReceiver(() => secret)
    ctx.after(receiver.close)
    const { secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    assert.equal((await api.post('/v1/webhooks/endpoints', { url: 'http://10.0.0.5/hook', enabled: false })).status, 200)
    const res = await api.post('/v1/webhooks/endpoints', { url: receiver.url })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    secret = res.body.secret
    await makeInvitation(api)
    await t.outboxWorker.drain()
    await t.outboxWorker.drain()
    assert.equal(receiver.received.length, 1)
  })
})

describe('FOYER_WEBHOOK_ALLOW_PRIVATE in the configuration', () => {
  // @see issue 12
  it('is off by default, on for 1 or true, and stops start-up naming the variable otherwise', () => {
    assert.equal(loadConfig({}).webhookAllowPrivate, false)
    assert.equal(loadConfig({ FOYER_WEBHOOK_ALLOW_PRIVATE: '1' }).webhookAllowPrivate, true)
    assert.equal(loadConfig({ FOYER_WEBHOOK_ALLOW_PRIVATE: 'TRUE' }).webhookAllowPrivate, true)
    assert.equal(loadConfig({ FOYER_WEBHOOK_ALLOW_PRIVATE: '0' }).webhookAllowPrivate, false)
    for (const value of ['yes', '2', 'on']) {
      assert.throws(() => loadConfig({ FOYER_WEBHOOK_ALLOW_PRIVATE: value }),
        (err: Error) => err instanceof ConfigError && err.variable === 'FOYER_WEBHOOK_ALLOW_PRIVATE' && /FOYER_WEBHOOK_ALLOW_PRIVATE/.test(err.message))
    }
  })
})
