import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { webhookEventValidator } from '../helpers/spec.js'
import { fapi, ticketOf, type Fapi } from '../frontend/fapi-client.js'

const PASSWORD = 'correct horse battery'

forEachDatabase('session.* webhooks and last_sign_in_at', (engine) => {
  let t: TestApp
  let f: Fapi
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
  })
  after(() => t.close())

  /** The webhook events an instance has queued about sessions, oldest first. */
  const sessionEvents = async (instanceId: string) => {
    const rows = await t.db.query<{ topic: string; payload: any }>(
      `select topic, payload from outbox where instance_id = $1 and kind = 'webhook' and topic like 'session.%' order by created_at, id`, [instanceId])
    // The test clock stands still, so queue times tie: a session's events sort by its lifecycle.
    const order = ['session.created', 'session.ended', 'session.removed', 'session.revoked']
    return rows.map((r) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload))
      .sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type))
  }

  /**
   * The reference's SessionEventPayload is allOf [Session, { user }], and its Session forbids
   * other properties, so no payload with the required `user` passes as written (Clerk's own
   * example does not): that one complaint is set aside, and every other must be absent.
   */
  const assertEventMatches = (type: string, event: unknown) => {
    const validate = webhookEventValidator(type)
    validate(event)
    const errors = (validate.errors ?? []).filter((e) => !(e.instancePath === '/data' && e.keyword === 'additionalProperties' && e.params.additionalProperty === 'user'))
    assert.deepEqual(errors, [], `${type} payload does not match the reference: ${JSON.stringify(event)}`)
  }

  async function signedUp() {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const invitation = await makeInvitation(api)
    const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(invitation), password: PASSWORD })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return { instance, api, cookie: res.session!, userId: res.body.response.created_user_id as string, sessionId: res.body.response.created_session_id as string }
  }

  // @see issue 13
  it('a ticket sign-up queues session.created with the new session, and the user has last_sign_in_at', async () => {
    const { instance, api, userId, sessionId } = await signedUp()
    const events = await sessionEvents(instance.id)
    assert.deepEqual(events.map((e) => e.type), ['session.created'])
    const [created] = events
    assertEventMatches('session.created', created)
    assert.equal(created.object, 'event')
    assert.equal(created.instance_id, instance.id)
    assert.equal(created.data.id, sessionId)
    assert.equal(created.data.user_id, userId)
    assert.equal(created.data.status, 'active')
    assert.equal(created.data.user.id, userId)

    const session = await api.get(`/v1/sessions/${sessionId}`)
    assert.equal(session.status, 200)
    const { user: _user, ...data } = created.data
    const { tasks: _tasks, ...clerkSession } = session.body
    assert.deepEqual(data, clerkSession)

    const user = await api.get(`/v1/users/${userId}`)
    assert.equal(user.status, 200)
    assert.equal(typeof user.body.last_sign_in_at, 'number')
    assert.equal(created.data.user.last_sign_in_at, user.body.last_sign_in_at)
  })

  // @see issue 13
  it('a password sign-in queues session.created and moves last_sign_in_at', async () => {
    const { instance, api, userId } = await signedUp()
    const before = (await api.get(`/v1/users/${userId}`)).body.last_sign_in_at as number
    const email = (await api.get(`/v1/users/${userId}`)).body.email_addresses[0].email_address
    const res = await f.post('/v1/client/sign_ins', { identifier: email, password: PASSWORD, strategy: 'password' }, { instance: instance.id })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const events = await sessionEvents(instance.id)
    assert.deepEqual(events.map((e) => e.type), ['session.created', 'session.created'])
    const created = events.find((e) => e.data.id === res.body.response.created_session_id)
    assert.ok(created, 'the sign-in\'s session has its event')
    assertEventMatches('session.created', created)
    const after = (await api.get(`/v1/users/${userId}`)).body.last_sign_in_at as number
    assert.ok(after >= before)
    assert.equal(created.data.user.last_sign_in_at, after)
  })

  // @see issue 13
  it('signing out (DELETE /v1/client) queues session.ended', async () => {
    const { instance, cookie, sessionId } = await signedUp()
    assert.equal((await f.delete('/v1/client', { session: cookie })).status, 200)
    // The session is over: signing out again with the old cookie ends nothing more.
    await f.delete('/v1/client', { session: cookie })
    const events = await sessionEvents(instance.id)
    assert.deepEqual(events.map((e) => e.type), ['session.created', 'session.ended'])
    assertEventMatches('session.ended', events[1])
    assert.equal(events[1].data.id, sessionId)
    assert.equal(events[1].data.status, 'ended')
  })

  // @see issue 13
  it('removing the session from its client (POST /v1/client/sessions/{id}/remove) queues session.removed once', async () => {
    const { instance, api, cookie, sessionId } = await signedUp()
    const res = await f.post(`/v1/client/sessions/${sessionId}/remove`, undefined, { session: cookie })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    // The session is gone from the client: the old cookie removes nothing more.
    assert.equal((await f.post(`/v1/client/sessions/${sessionId}/remove`, undefined, { session: cookie })).status, 404)
    const events = await sessionEvents(instance.id)
    assert.deepEqual(events.map((e) => e.type), ['session.created', 'session.removed'])
    assertEventMatches('session.removed', events[1])
    assert.equal(events[1].data.id, sessionId)
    assert.equal(events[1].data.status, 'removed')
    const { user: _user, ...data } = events[1].data
    const { tasks: _tasks, ...clerkSession } = (await api.get(`/v1/sessions/${sessionId}`)).body
    assert.deepEqual(data, clerkSession)
    const removed = await api.get(`/v1/sessions?user_id=${data.user_id}&status=removed&paginated=true`)
    assert.deepEqual(removed.body.data.map((s: { id: string }) => s.id), [sessionId])
    assert.equal((await api.get(`/v1/sessions?user_id=${data.user_id}&status=active&paginated=true`)).body.total_count, 0)
  })

  // @see issue 13
  it('POST /v1/sessions/{id}/revoke queues session.revoked once', async () => {
    const { instance, api, sessionId } = await signedUp()
    const first = await api.post(`/v1/sessions/${sessionId}/revoke`)
    assert.equal(first.status, 200)
    assert.equal((await api.post(`/v1/sessions/${sessionId}/revoke`)).status, 200)
    const events = await sessionEvents(instance.id)
    assert.deepEqual(events.map((e) => e.type), ['session.created', 'session.revoked'])
    assertEventMatches('session.revoked', events[1])
    const { user: _user, ...data } = events[1].data
    const { tasks: _tasks, ...clerkSession } = first.body
    assert.deepEqual(data, clerkSession)
    assert.equal(events[1].timestamp, first.body.updated_at)
  })
})
