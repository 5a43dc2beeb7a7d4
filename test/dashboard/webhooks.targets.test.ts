import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { textOf } from '../pages/page-client.js'
import { RETRY_LIMITS } from '../../src/webhooks/webhooks.retry-limit.js'
import { dashboardApp } from './dashboard-client.js'

const webhooksOf = (instanceId: string, rest = '') => `/dashboard/${instanceId}/webhooks${rest}`
const REFUSAL = /The URL must be on the public internet; the address it points to is not allowed\./

/** `rebind.test` answers a public address until `rebound`, then 127.0.0.1. */
function fakeDns() {
  const state = { rebound: false }
  const resolveHost = async (hostname: string) => {
    if (hostname === 'rebind.test') return state.rebound ? ['127.0.0.1'] : ['93.184.215.14']
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
  }
  return { state, resolveHost }
}

forEachDatabase('dashboard webhook targets', (engine) => {
  // @see issue 12
  it('refuses a loopback, metadata or private URL inline with 422 when adding or editing an endpoint', async (t) => {
    const d = await dashboardApp(engine, { env: { FOYER_WEBHOOK_ALLOW_PRIVATE: '0' }, resolveHost: fakeDns().resolveHost })
    t.after(() => d.t.close())
    const list = webhooksOf(d.instanceId)
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[::ffff:127.0.0.1]:6379/', 'http://0x7f000001/', 'http://localhost/']) {
      const res = await d.submit(list, list, { url })
      assert.equal(res.statusCode, 422, res.body)
      assert.match(textOf(res.body), REFUSAL)
      assert.ok(res.body.includes(`value="${url}"`), 'the form keeps what was typed')
    }
    assert.deepEqual(await d.t.db.query('select id from webhook_endpoints where instance_id = $1', [d.instanceId]), [])

    const added = await d.submit(list, list, { url: 'https://rebind.test/hook' })
    assert.equal(added.statusCode, 303, added.body)
    const [row] = await d.t.db.query<{ id: string }>('select id from webhook_endpoints where instance_id = $1', [d.instanceId])
    const detail = webhooksOf(d.instanceId, `/${row!.id}`)
    const edited = await d.submit(detail, detail, { url: 'http://10.0.0.1/hook' })
    assert.equal(edited.statusCode, 422, edited.body)
    assert.match(textOf(edited.body), REFUSAL)
  })

  // @see issue 12
  it(`limits retries of an endpoint's deliveries to ${RETRY_LIMITS.perEndpoint} an hour, then answers 429 with Retry-After`, async (t) => {
    const dns = fakeDns()
    const d = await dashboardApp(engine, { env: { FOYER_WEBHOOK_ALLOW_PRIVATE: '0' }, resolveHost: dns.resolveHost })
    t.after(() => d.t.close())
    const list = webhooksOf(d.instanceId)
    assert.equal((await d.submit(list, list, { url: 'https://rebind.test/hook', enabled: '1', event_types: '' })).statusCode, 303)
    // Refused at send time from now on: retries reach no network.
    dns.state.rebound = true
    const api = client(d.t.app, d.secretKey)
    assert.equal((await api.post('/v1/invitations', { email_address: 'retry@example.com', notify: false })).status, 200)
    await d.t.outboxWorker.drain()
    await d.t.outboxWorker.drain()
    const [delivery] = await d.t.db.query<{ id: string; endpoint_id: string }>('select id, endpoint_id from webhook_deliveries where instance_id = $1', [d.instanceId])
    assert.ok(delivery)
    const detail = webhooksOf(d.instanceId, `/${delivery.endpoint_id}`)
    const page = await d.op.get(detail)
    assert.match(textOf(page.body), /target address not allowed/)

    const retry = `${detail}/deliveries/${delivery.id}/retry`
    for (let i = 0; i < RETRY_LIMITS.perEndpoint; i++) assert.equal((await d.submit(detail, retry)).statusCode, 303)
    const limited = await d.submit(detail, retry)
    assert.equal(limited.statusCode, 429, limited.body)
    assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After is set')
    assert.match(textOf(limited.body), /retried 20 times per hour for this endpoint/)
  })
})
