import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'

const spec = loadBapiSpec()

forEachDatabase('DELETE /v1/users/{user_id}', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const fresh = async () => {
    const { instance, secretKey } = await t.newInstance()
    return { instance, api: client(t.app, secretKey) }
  }

  const rows = (sql: string, params: unknown[]) => t.db.query(sql, params)

  it('deletes the user with its addresses and sessions, answers a DeletedObject, and leaves invitations intact', async () => {
    const { instance, api } = await fresh()
    const email = uniqueEmail('leaving')
    const invitation = await makeInvitation(api, { email_address: email })
    const user = (await api.post('/v1/users', { email_address: [email] })).body
    await rows(`insert into sessions (id, instance_id, user_id, token_hash, expires_at, last_active_at, created_at, updated_at)
      values ($1, $2, $3, $4, $5, $5, $5, $5)`, [`sess_${user.id}`, instance.id, user.id, `hash-${user.id}`, t.clock.now()])
    await rows('update invitations set status = $2, accepted_by_user_id = $3 where id = $1', [invitation.id, 'accepted', user.id])

    const res = await api.delete(`/v1/users/${user.id}`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assertMatchesSpec(spec.response('DeleteUser', 200), res.body, 'DELETE /v1/users/{id} 200 body')
    assert.deepEqual(res.body, { object: 'user', id: user.id, deleted: true })

    assert.equal((await api.get(`/v1/users/${user.id}`)).status, 404)
    assert.equal((await rows('select 1 from email_addresses where user_id = $1', [user.id])).length, 0)
    assert.equal((await rows('select 1 from sessions where user_id = $1', [user.id])).length, 0)
    const [kept] = await rows('select status, accepted_by_user_id from invitations where id = $1', [invitation.id])
    assert.deepEqual(kept, { status: 'accepted', accepted_by_user_id: user.id })

    // The address is free again.
    assert.equal((await api.post('/v1/users', { email_address: [email] })).status, 200)
  })

  it('queues user.deleted and drops the events about the user that hold its address', async () => {
    const { instance, api } = await fresh()
    const user = (await api.post('/v1/users', { email_address: [uniqueEmail()] })).body
    assert.equal((await api.delete(`/v1/users/${user.id}`)).status, 200)
    const items = await rows('select topic, subject_id, payload from outbox where instance_id = $1', [instance.id]) as any[]
    assert.equal(items.length, 1)
    assert.equal(items[0].topic, 'user.deleted')
    assert.equal(items[0].subject_id, user.id)
    assert.deepEqual(items[0].payload, {
      data: { object: 'user', id: user.id, deleted: true }, object: 'event', type: 'user.deleted', timestamp: t.clock.now(), instance_id: instance.id,
    })
  })

  it('answers 404 for an unknown user, a user deleted already, or another instance\'s user (which stays)', async () => {
    const { api } = await fresh()
    const other = await fresh()
    const theirs = (await other.api.post('/v1/users', { email_address: [uniqueEmail()] })).body
    const notFound = await api.delete(`/v1/users/${theirs.id}`)
    assert.equal(notFound.status, 404)
    assert.equal(notFound.body.errors[0].code, 'resource_not_found')
    assertMatchesSpec(spec.response('DeleteUser', 404), notFound.body, 'DELETE /v1/users/{id} 404 body')
    assert.equal((await other.api.get(`/v1/users/${theirs.id}`)).status, 200)
    assert.equal((await rows('select 1 from outbox where subject_id = $1', [theirs.id])).length, 1, 'their user.created event is untouched')

    const mine = (await api.post('/v1/users', { email_address: [uniqueEmail()] })).body
    assert.equal((await api.delete(`/v1/users/${mine.id}`)).status, 200)
    assert.equal((await api.delete(`/v1/users/${mine.id}`)).status, 404)
    assert.equal((await api.delete('/v1/users/user_nope')).status, 404)
  })
})
