import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'

const DAY = 24 * 3600 * 1000

forEachDatabase('GET /v1/invitations', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const fresh = async (): Promise<Client> => client(t.app, (await t.newInstance()).secretKey)
  const ids = (list: any[]) => list.map((i) => i.id)

  /** Five invitations created one millisecond apart, in order: a..e@list.test. */
  const seed = async (api: Client) => {
    const made = []
    for (const name of ['c', 'a', 'e', 'b', 'd']) {
      made.push(await makeInvitation(api, { email_address: `${name}@list.test`, expires_in_days: name.charCodeAt(0) - 96 }))
      t.clock.advance(1)
    }
    return made
  }

  it('returns a plain array by default, newest first, limited to 10', async () => {
    const api = await fresh()
    for (let i = 0; i < 12; i++) {
      await makeInvitation(api)
      t.clock.advance(1)
    }
    const res = await api.get('/v1/invitations')
    assert.equal(res.status, 200)
    assert.ok(Array.isArray(res.body))
    assert.equal(res.body.length, 10)
    const created = res.body.map((i: any) => i.created_at)
    assert.deepEqual(created, [...created].sort((a, b) => b - a))
  })

  it('answers {data, total_count} with paginated=true, with limit and offset', async () => {
    const api = await fresh()
    const made = await seed(api)
    const page1 = await api.get('/v1/invitations?paginated=true&limit=2')
    const page2 = await api.get('/v1/invitations?paginated=true&limit=2&offset=2')
    const page3 = await api.get('/v1/invitations?paginated=true&limit=2&offset=4')
    assert.equal(page1.body.total_count, 5)
    assert.deepEqual([...ids(page1.body.data), ...ids(page2.body.data), ...ids(page3.body.data)], ids(made).reverse())
    assert.equal(page3.body.data.length, 1)
  })

  it('still counts every match when the page is empty or cut short by limit', async () => {
    const api = await fresh()
    await seed(api)
    const past = await api.get('/v1/invitations?paginated=true&offset=100')
    assert.deepEqual(past.body, { data: [], total_count: 5 })
    const queried = await api.get('/v1/invitations?paginated=true&query=list.test&limit=2')
    assert.equal(queried.body.data.length, 2)
    assert.equal(queried.body.total_count, 5)
    const queriedPast = await api.get('/v1/invitations?paginated=true&query=list.test&offset=5')
    assert.deepEqual(queriedPast.body, { data: [], total_count: 5 })
    const none = await api.get('/v1/invitations?paginated=true&query=nobody')
    assert.deepEqual(none.body, { data: [], total_count: 0 })
  })

  it('orders by created_at, email_address and expires_at in both directions', async () => {
    const api = await fresh()
    await seed(api)
    const emails = async (order: string) => (await api.get(`/v1/invitations?order_by=${encodeURIComponent(order)}`)).body.map((i: any) => i.email_address[0]).join('')
    assert.equal(await emails('-created_at'), 'dbeac')
    assert.equal(await emails('created_at'), 'caebd')
    assert.equal(await emails('+created_at'), 'caebd')
    assert.equal(await emails('email_address'), 'abcde')
    assert.equal(await emails('-email_address'), 'edcba')
    assert.equal(await emails('expires_at'), 'abcde')
    assert.equal(await emails('-expires_at'), 'edcba')
  })

  it('refuses an unknown order_by with 422 naming it', async () => {
    const api = await fresh()
    for (const bad of ['name', '--created_at', 'created_at;drop table invitations']) {
      const res = await api.get(`/v1/invitations?order_by=${encodeURIComponent(bad)}`)
      assert.equal(res.status, 422, bad)
      assert.equal(res.body.errors[0].meta.param_name, 'order_by')
    }
  })

  it('filters by query: a case-insensitive substring of the email, or an exact id', async () => {
    const api = await fresh()
    const made = await seed(api)
    const bySubstring = await api.get('/v1/invitations?query=B@LIST&paginated=true')
    assert.deepEqual(bySubstring.body.data.map((i: any) => i.email_address), ['b@list.test'])
    assert.equal(bySubstring.body.total_count, 1)
    const byId = await api.get(`/v1/invitations?query=${made[2].id}`)
    assert.deepEqual(ids(byId.body), [made[2].id])
    assert.equal((await api.get(`/v1/invitations?query=${made[2].id.slice(0, 10)}`)).body.length, 0)
    // LIKE wildcards in the query are matched literally.
    assert.equal((await api.get('/v1/invitations?query=%25')).body.length, 0)
    assert.equal((await api.get('/v1/invitations?query=_')).body.length, 0)
  })

  it('leaves revoked invitations out without status, and filters each status', async () => {
    const api = await fresh()
    const [pending, toRevoke, toExpire] = [await makeInvitation(api), await makeInvitation(api), await makeInvitation(api, { expires_in_days: 1 })]
    await api.post(`/v1/invitations/${toRevoke.id}/revoke`)
    await api.post('/v1/testing/clock', { advance_ms: DAY + 1 })
    const all = await api.get('/v1/invitations?paginated=true')
    assert.deepEqual(ids(all.body.data).sort(), [pending.id, toExpire.id].sort())
    assert.equal(all.body.total_count, 2)
    const by = async (status: string) => (await api.get(`/v1/invitations?status=${status}&paginated=true`)).body
    assert.deepEqual(ids((await by('pending')).data), [pending.id])
    assert.equal((await by('pending')).total_count, 1)
    assert.deepEqual(ids((await by('revoked')).data), [toRevoke.id])
    assert.equal((await by('revoked')).total_count, 1)
    const expired = await by('expired')
    assert.deepEqual(ids(expired.data), [toExpire.id])
    assert.equal(expired.data[0].status, 'expired')
    assert.equal(expired.total_count, 1)
    assert.equal((await by('accepted')).total_count, 0)
  })

  it('refuses out-of-range and malformed paging parameters with 422 naming them', async () => {
    const api = await fresh()
    for (const [qs, param] of [['limit=0', 'limit'], ['limit=501', 'limit'], ['limit=abc', 'limit'], ['offset=-1', 'offset'], ['status=active', 'status'], ['paginated=maybe', 'paginated'], ['colour=red', 'colour']]) {
      const res = await api.get(`/v1/invitations?${qs}`)
      assert.equal(res.status, 422, qs)
      assert.equal(res.body.errors[0].meta.param_name, param, qs)
    }
    assert.equal((await api.get('/v1/invitations?limit=500')).status, 200)
  })
})
