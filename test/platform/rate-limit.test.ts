import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, buildTwoProcesses, client, uniqueEmail, type Client, type Reply, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase, redisUrl } from '../helpers/databases.js'

const create = (api: Client) => api.post('/v1/invitations', { email_address: uniqueEmail('rl'), notify: false })
const bulk = (api: Client) => api.post('/v1/invitations/bulk', [{ email_address: uniqueEmail('rlb'), notify: false }])

/** Sends `n` requests one after the other and returns their statuses. */
async function statuses(n: number, send: () => Promise<Reply>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await send()).status)
  return out
}

function assertTooManyRequests(res: Reply) {
  assert.equal(res.status, 429, JSON.stringify(res.body))
  assert.equal(res.headers['content-type'], 'application/json')
  const retryAfter = String(res.headers['retry-after'])
  assert.match(retryAfter, /^\d+$/, 'Retry-After is a whole number of seconds')
  assert.ok(Number(retryAfter) > 0 && Number(retryAfter) <= 3600, `Retry-After ${retryAfter} lies within the hour`)
  assert.deepEqual(Object.keys(res.body).sort(), ['clerk_trace_id', 'errors'])
  assert.equal(typeof res.body.clerk_trace_id, 'string')
  assert.equal(res.body.errors.length, 1)
  assert.equal(res.body.errors[0].code, 'too_many_requests')
  assert.equal(typeof res.body.errors[0].message, 'string')
  assert.equal(typeof res.body.errors[0].long_message, 'string')
}

forEachDatabase('Rate limits', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const newApi = async () => client(t.app, (await t.newInstance()).secretKey)

  it('POST /v1/invitations answers 429 too_many_requests with Retry-After on the 101st create in an hour', async () => {
    const api = await newApi()
    const first = await statuses(100, () => create(api))
    assert.deepEqual(first.filter((s) => s !== 200), [], 'the first 100 creates pass')
    const over = await create(api)
    assertTooManyRequests(over)
    assertTooManyRequests(await create(api))
    // Nothing was created by the refused requests.
    assert.equal((await api.get('/v1/invitations?paginated=true')).body.total_count, 100)
  })

  it('POST /v1/invitations/bulk answers 429 on the 26th bulk request in an hour', async () => {
    const api = await newApi()
    const first = await statuses(25, () => bulk(api))
    assert.deepEqual(first.filter((s) => s !== 200), [], 'the first 25 bulk requests pass')
    assertTooManyRequests(await bulk(api))
  })

  it('keeps one budget per instance: another instance is unaffected', async () => {
    const a = await newApi()
    const b = await newApi()
    assert.equal((await a.patch('/v1/instance', { rate_limits: { create_invitation: 2 } })).status, 200)
    assert.equal((await b.patch('/v1/instance', { rate_limits: { create_invitation: 2 } })).status, 200)
    assert.deepEqual(await statuses(3, () => create(a)), [200, 200, 429])
    assert.deepEqual(await statuses(3, () => create(b)), [200, 200, 429])
  })

  it('keeps one budget per route: an exhausted create limit leaves bulk, list and revoke working', async () => {
    const api = await newApi()
    assert.equal((await api.patch('/v1/instance', { rate_limits: { create_invitation: 1, create_invitation_bulk: 1 } })).status, 200)
    const inv = await create(api)
    assert.equal(inv.status, 200)
    assertTooManyRequests(await create(api))
    assert.equal((await bulk(api)).status, 200)
    assertTooManyRequests(await bulk(api))
    assert.equal((await api.get('/v1/invitations')).status, 200)
    assert.equal((await api.post(`/v1/invitations/${inv.body.id}/revoke`)).status, 200)
  })

  it('keeps the bulk budget apart: an exhausted create limit leaves all 25 bulk requests', async () => {
    const api = await newApi()
    assert.equal((await api.patch('/v1/instance', { rate_limits: { create_invitation: 3 } })).status, 200)
    assert.deepEqual(await statuses(4, () => create(api)), [200, 200, 200, 429])
    const bulks = await statuses(25, () => bulk(api))
    assert.deepEqual(bulks.filter((s) => s !== 200), [])
  })

  it('PATCH /v1/instance rate_limits applies to the very next request', async () => {
    const api = await newApi()
    assert.deepEqual(await statuses(2, () => create(api)), [200, 200])
    const patched = await api.patch('/v1/instance', { rate_limits: { create_invitation: 3 } })
    assert.equal(patched.status, 200)
    assert.equal(patched.body.rate_limits.create_invitation, 3)
    assert.equal((await create(api)).status, 200)
    assertTooManyRequests(await create(api))
    // Lowering it below what was used refuses the next request at once.
    const api2 = await newApi()
    assert.deepEqual(await statuses(5, () => create(api2)), [200, 200, 200, 200, 200])
    assert.equal((await api2.patch('/v1/instance', { rate_limits: { create_invitation: 3 } })).status, 200)
    assertTooManyRequests(await create(api2))
    // Raising it lets the next request through.
    assert.equal((await api2.patch('/v1/instance', { rate_limits: { create_invitation: 10 } })).status, 200)
    assert.equal((await create(api2)).status, 200)
  })

  it('PATCH /v1/instance rate_limits 0 lifts the limit: 150 creates pass', async () => {
    const api = await newApi()
    const patched = await api.patch('/v1/instance', { rate_limits: { create_invitation: 0 } })
    assert.equal(patched.status, 200)
    assert.equal(patched.body.rate_limits.create_invitation, 0)
    const all = await statuses(150, () => create(api))
    assert.deepEqual(all.filter((s) => s !== 200), [])
    assert.equal((await api.get('/v1/invitations?paginated=true')).body.total_count, 150)
  })

  it('PATCH /v1/instance rate_limits 0 on an exhausted route lets the next request through', async () => {
    const api = await newApi()
    assert.equal((await api.patch('/v1/instance', { rate_limits: { create_invitation_bulk: 1 } })).status, 200)
    assert.deepEqual(await statuses(2, () => bulk(api)), [200, 429])
    assert.equal((await api.patch('/v1/instance', { rate_limits: { create_invitation_bulk: 0 } })).status, 200)
    assert.deepEqual(await statuses(3, () => bulk(api)), [200, 200, 200])
  })
})

forEachDatabase('Rate limits shared through Redis', (engine) => {
  if (!redisUrl) {
    it('shares one instance\'s budget between two processes', { skip: 'TEST_REDIS_URL is not set' }, () => {})
    return
  }
  let t: TestApp
  let second: FastifyInstance
  let redis: Redis
  let close: () => Promise<void>
  const made: string[] = []
  before(async () => {
    ({ t, second, redis, close } = await buildTwoProcesses(engine))
  })
  after(async () => {
    // Only the counters of the instances made here; the namespace is Foyer's own.
    for (const instanceId of made) {
      const keys = await redis.keys(`foyer-rl:*${instanceId}*`)
      if (keys.length > 0) await redis.del(...keys)
    }
    await close?.()
  })

  const newInstance = async () => {
    const { instance, secretKey } = await t.newInstance(`redis-${randomBytes(3).toString('hex')}`)
    made.push(instance.id)
    return { a: client(t.app, secretKey), b: client(second, secretKey) }
  }

  it('POST /v1/invitations counts requests to either process against one budget', async () => {
    const { a, b } = await newInstance()
    assert.equal((await a.patch('/v1/instance', { rate_limits: { create_invitation: 5 } })).status, 200)
    assert.deepEqual(await statuses(3, () => create(a)), [200, 200, 200])
    assert.deepEqual(await statuses(2, () => create(b)), [200, 200])
    assertTooManyRequests(await create(b))
    assertTooManyRequests(await create(a))
  })

  it('POST /v1/invitations/bulk keeps its own shared budget, and other instances keep theirs', async () => {
    const one = await newInstance()
    const other = await newInstance()
    assert.equal((await one.a.patch('/v1/instance', { rate_limits: { create_invitation_bulk: 2, create_invitation: 1 } })).status, 200)
    assert.equal((await bulk(one.a)).status, 200)
    assert.equal((await bulk(one.b)).status, 200)
    assertTooManyRequests(await bulk(one.a))
    assertTooManyRequests(await bulk(one.b))
    assert.equal((await create(one.b)).status, 200)
    assert.equal((await create(other.a)).status, 200)
    assert.equal((await bulk(other.b)).status, 200)
  })
})
