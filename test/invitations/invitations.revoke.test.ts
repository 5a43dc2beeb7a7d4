import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'

forEachDatabase('POST /v1/invitations/{id}/revoke', (engine) => {
  let t: TestApp
  let api: Client
  let secretKey: string
  before(async () => {
    t = await buildTestApp({ engine })
    secretKey = (await t.newInstance()).secretKey
    api = client(t.app, secretKey)
  })
  after(() => t.close())

  it('revokes a pending invitation and answers it with revoked: true', async () => {
    const inv = await makeInvitation(api)
    t.clock.advance(5)
    const res = await api.post(`/v1/invitations/${inv.id}/revoke`)
    assert.equal(res.status, 200)
    assert.equal(res.body.id, inv.id)
    assert.equal(res.body.status, 'revoked')
    assert.equal(res.body.revoked, true)
    assert.equal(res.body.updated_at, inv.updated_at + 5)
    assert.equal(res.body.created_at, inv.created_at)
  })

  it('accepts the SDK\'s empty JSON body', async () => {
    const inv = await makeInvitation(api)
    const res = await api.raw({ method: 'POST', url: `/v1/invitations/${inv.id}/revoke`, headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' }, payload: '' })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().status, 'revoked')
  })

  it('refuses a second revoke with a 400 Clerk error', async () => {
    const inv = await makeInvitation(api)
    assert.equal((await api.post(`/v1/invitations/${inv.id}/revoke`)).status, 200)
    const again = await api.post(`/v1/invitations/${inv.id}/revoke`)
    assert.equal(again.status, 400)
    assert.equal(again.body.errors[0].code, 'invitation_not_pending')
    assert.match(again.body.errors[0].long_message, /revoked/)
  })

  it('refuses to revoke an expired invitation with 400', async () => {
    const inv = await makeInvitation(api, { expires_in_days: 1 })
    await api.post('/v1/testing/clock', { advance_ms: 24 * 3600 * 1000 })
    const res = await api.post(`/v1/invitations/${inv.id}/revoke`)
    assert.equal(res.status, 400)
    assert.match(res.body.errors[0].long_message, /expired/)
  })

  it('answers 404 for an unknown id', async () => {
    const res = await api.post('/v1/invitations/inv_doesnotexist/revoke')
    assert.equal(res.status, 404)
    assert.equal(res.body.errors[0].code, 'resource_not_found')
  })

  it('lets exactly one of ten concurrent revokes win', async () => {
    const inv = await makeInvitation(api)
    const results = await Promise.all(Array.from({ length: 10 }, () => api.post(`/v1/invitations/${inv.id}/revoke`)))
    assert.equal(results.filter((r) => r.status === 200).length, 1)
    assert.equal(results.filter((r) => r.status === 400).length, 9)
    assert.equal((await api.get('/v1/invitations?status=revoked&paginated=true&limit=1')).body.total_count >= 1, true)
  })

  it('frees the address: a new invitation can be created after revoking', async () => {
    const inv = await makeInvitation(api)
    await api.post(`/v1/invitations/${inv.id}/revoke`)
    assert.equal((await api.post('/v1/invitations', { email_address: inv.email_address, notify: false })).status, 200)
  })
})

forEachDatabase('DELETE /v1/invitations/{id}', (engine) => {
  let t: TestApp
  let api: Client
  before(async () => {
    t = await buildTestApp({ engine })
    api = client(t.app, (await t.newInstance()).secretKey)
  })
  after(() => t.close())

  it('deletes an invitation in any status and answers Clerk\'s DeletedObject', async () => {
    const pending = await makeInvitation(api)
    const revoked = await makeInvitation(api)
    await api.post(`/v1/invitations/${revoked.id}/revoke`)
    for (const inv of [pending, revoked]) {
      const res = await api.delete(`/v1/invitations/${inv.id}`)
      assert.equal(res.status, 200)
      assert.deepEqual(res.body, { object: 'invitation', id: inv.id, deleted: true })
    }
    assert.equal((await api.get(`/v1/invitations?query=${pending.id}`)).body.length, 0)
    assert.equal((await api.get(`/v1/invitations?status=revoked&query=${revoked.id}`)).body.length, 0)
    assert.equal((await api.delete(`/v1/invitations/${pending.id}`)).status, 404)
  })

  it('removes everything stored for the recipient and keeps the counts right', async () => {
    const before = (await api.get('/v1/invitations?paginated=true&limit=1')).body.total_count
    const inv = await makeInvitation(api, { notify: true })
    const queued = await t.db.query<{ n: number }>('select count(*)::int as n from outbox where subject_id = $1', [inv.id])
    assert.equal(queued[0]!.n, 2, 'the invitation.created event and the email are queued')
    await api.delete(`/v1/invitations/${inv.id}`)
    const left = await t.db.query<{ n: number }>(`select count(*)::int as n from outbox where subject_id = $1 or payload::text like $2`, [inv.id, `%${inv.email_address}%`])
    assert.equal(left[0]!.n, 0)
    assert.equal((await api.get('/v1/invitations?paginated=true&limit=1')).body.total_count, before)
  })
})
