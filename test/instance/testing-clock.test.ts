import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, type Client, type Reply, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { randomToken } from '../../src/platform/ids.js'

const DAY_MS = 24 * 60 * 60 * 1000

function assertNotFound(res: Reply) {
  assert.equal(res.status, 404, JSON.stringify(res.body))
  assert.equal(res.headers['content-type'], 'application/json')
  assert.deepEqual(Object.keys(res.body).sort(), ['clerk_trace_id', 'errors'])
  assert.equal(res.body.errors[0].code, 'resource_not_found')
}

const liveKey = () => 'sk_live_' + randomToken(40)

forEachDatabase('GET/POST /v1/testing/clock', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const newApi = async () => client(t.app, (await t.newInstance()).secretKey)
  const advance = (api: Client, ms: number) => api.post('/v1/testing/clock', { advance_ms: ms })

  it('GET /v1/testing/clock answers {now} in Unix ms for a new instance', async () => {
    const api = await newApi()
    const res = await api.get('/v1/testing/clock')
    assert.equal(res.status, 200)
    assert.equal(res.headers['content-type'], 'application/json')
    assert.deepEqual(Object.keys(res.body), ['now'])
    assert.ok(Number.isInteger(res.body.now))
    assert.equal(res.body.now, t.clock.now())
  })

  it('POST /v1/testing/clock moves that instance\'s clock forward by advance_ms and answers the new now', async () => {
    const api = await newApi()
    const start = (await api.get('/v1/testing/clock')).body.now
    const moved = await advance(api, 5000)
    assert.equal(moved.status, 200)
    assert.equal(moved.headers['content-type'], 'application/json')
    assert.deepEqual(moved.body, { now: start + 5000 })
    assert.equal((await api.get('/v1/testing/clock')).body.now, start + 5000)
    assert.deepEqual((await advance(api, 0)).body, { now: start + 5000 })
    assert.deepEqual((await advance(api, DAY_MS)).body, { now: start + 5000 + DAY_MS })
  })

  it('POST /v1/testing/clock moves only the calling instance\'s clock', async () => {
    const a = await newApi()
    const b = await newApi()
    const startB = (await b.get('/v1/testing/clock')).body.now
    const invB = await makeInvitation(b, { expires_in_days: 1 })
    assert.equal((await advance(a, 2 * DAY_MS)).status, 200)
    assert.equal((await b.get('/v1/testing/clock')).body.now, startB)
    const listB = await b.get(`/v1/invitations?query=${invB.id}`)
    assert.equal(listB.body[0].status, 'pending')
  })

  it('POST /v1/testing/clock refuses a negative, fractional, missing or unknown advance with 422', async () => {
    const api = await newApi()
    for (const body of [{ advance_ms: -1 }, { advance_ms: 1.5 }, { advance_ms: '1000' }, {}, { advance_ms: 1, extra: true }]) {
      const res = await api.post('/v1/testing/clock', body)
      assert.equal(res.status, 422, JSON.stringify(body))
      assert.equal(res.body.errors[0].meta?.param_name, Object.keys(body).find((k) => k !== 'advance_ms') ?? 'advance_ms')
    }
  })

  it('an invitation with expires_in_days 1 reads pending until 1 day has passed, then expired in every list', async () => {
    const api = await newApi()
    const inv = await makeInvitation(api, { expires_in_days: 1 })
    const pending = await makeInvitation(api, { expires_in_days: 2 })
    assert.equal(inv.status, 'pending')
    assert.equal(inv.expires_at - inv.created_at, DAY_MS)

    assert.equal((await advance(api, DAY_MS - 1)).status, 200)
    assert.equal((await api.get(`/v1/invitations?query=${inv.id}`)).body[0].status, 'pending')
    assert.equal((await api.get('/v1/invitations?status=expired&paginated=true')).body.total_count, 0)

    assert.equal((await advance(api, 2)).status, 200)
    const byId = await api.get(`/v1/invitations?query=${inv.id}`)
    assert.equal(byId.body[0].status, 'expired')
    assert.equal(byId.body[0].revoked, false)

    const all = await api.get('/v1/invitations?paginated=true')
    assert.equal(all.body.total_count, 2)
    const statusOf = (list: { id: string; status: string }[], id: string) => list.find((i) => i.id === id)?.status
    assert.equal(statusOf(all.body.data, inv.id), 'expired')
    assert.equal(statusOf(all.body.data, pending.id), 'pending')
    assert.equal(statusOf((await api.get('/v1/invitations')).body, inv.id), 'expired')

    const expired = await api.get('/v1/invitations?status=expired&paginated=true')
    assert.equal(expired.body.total_count, 1)
    assert.deepEqual(expired.body.data.map((i: { id: string }) => i.id), [inv.id])
    assert.equal(expired.body.data[0].status, 'expired')

    const stillPending = await api.get('/v1/invitations?status=pending&paginated=true')
    assert.equal(stillPending.body.total_count, 1)
    assert.deepEqual(stillPending.body.data.map((i: { id: string }) => i.id), [pending.id])

    // The same counts when a text query is part of the filter (counted another way).
    const expiredByEmail = await api.get(`/v1/invitations?status=expired&paginated=true&query=${encodeURIComponent(inv.email_address)}`)
    assert.equal(expiredByEmail.body.total_count, 1)
    const pendingByEmail = await api.get(`/v1/invitations?status=pending&paginated=true&query=${encodeURIComponent(inv.email_address)}`)
    assert.equal(pendingByEmail.body.total_count, 0)
    assert.deepEqual(pendingByEmail.body.data, [])
  })

  it('POST /v1/invitations/{id}/revoke of an expired invitation answers 400 invitation_not_pending and leaves it expired', async () => {
    const api = await newApi()
    const inv = await makeInvitation(api, { expires_in_days: 1 })
    assert.equal((await advance(api, DAY_MS + 1)).status, 200)
    const res = await api.post(`/v1/invitations/${inv.id}/revoke`)
    assert.equal(res.status, 400)
    assert.equal(res.headers['content-type'], 'application/json')
    assert.equal(res.body.errors[0].code, 'invitation_not_pending')
    assert.equal((await api.get(`/v1/invitations?query=${inv.id}`)).body[0].status, 'expired')
    assert.equal((await api.get('/v1/invitations?status=revoked&paginated=true')).body.total_count, 0)
  })

  it('POST /v1/invitations after advancing stamps the instance\'s time and a new invitation reads pending', async () => {
    const api = await newApi()
    await advance(api, 10 * DAY_MS)
    const now = (await api.get('/v1/testing/clock')).body.now
    const inv = await makeInvitation(api, { expires_in_days: 1 })
    assert.equal(inv.created_at, now)
    assert.equal(inv.expires_at, now + DAY_MS)
    assert.equal(inv.status, 'pending')
    // The address of an expired invitation can be invited again without ignore_existing.
    const old = await makeInvitation(api, { expires_in_days: 1 })
    await advance(api, DAY_MS)
    const again = await api.post('/v1/invitations', { email_address: old.email_address, notify: false })
    assert.equal(again.status, 200)
  })

  it('GET and POST /v1/testing/clock answer 404 for an instance with an sk_live_ key', async () => {
    const secretKey = liveKey()
    await t.services.instances.create({ name: 'Production', secretKey })
    const live = client(t.app, secretKey)
    assertNotFound(await live.get('/v1/testing/clock'))
    assertNotFound(await advance(live, DAY_MS))
    // The refused advance did not move its time: its invitations still expire on the wall clock.
    const inv = await makeInvitation(live, { expires_in_days: 1 })
    assert.equal(inv.created_at, t.clock.now())
    assert.equal((await live.get(`/v1/invitations?query=${inv.id}`)).body[0].status, 'pending')
  })

  it('GET /v1/testing/clock without a key answers 401', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/testing/clock' })
    assert.equal(res.statusCode, 401)
  })
})

forEachDatabase('GET/POST /v1/testing/clock without FOYER_TESTING', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine, env: { FOYER_TESTING: '0' } })
  })
  after(() => t.close())

  it('GET /v1/testing/clock answers 404 in Clerk\'s shape', async () => {
    const api = client(t.app, (await t.newInstance()).secretKey)
    assertNotFound(await api.get('/v1/testing/clock'))
  })

  it('POST /v1/testing/clock answers 404 and does not move the instance\'s clock', async () => {
    const api = client(t.app, (await t.newInstance()).secretKey)
    const inv = await makeInvitation(api, { expires_in_days: 1 })
    assertNotFound(await api.post('/v1/testing/clock', { advance_ms: 2 * DAY_MS }))
    assert.equal((await api.get(`/v1/invitations?query=${inv.id}`)).body[0].status, 'pending')
    const next = await makeInvitation(api)
    assert.equal(next.created_at, t.clock.now())
  })

  it('answers 404 for an sk_live_ key too', async () => {
    const secretKey = liveKey()
    await t.services.instances.create({ name: 'Production', secretKey })
    const live = client(t.app, secretKey)
    assertNotFound(await live.get('/v1/testing/clock'))
    assertNotFound(await live.post('/v1/testing/clock', { advance_ms: 1 }))
  })
})
