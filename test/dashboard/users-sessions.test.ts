import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { browser, textOf } from '../pages/page-client.js'
import { fapi, ticketOf } from '../frontend/fapi-client.js'
import { csrfOf, dashboardApp, formFields, type Dashboard } from './dashboard-client.js'

const PASSWORD = 'correct horse battery'
const userPage = (d: Dashboard, userId: string) => `/dashboard/${d.instanceId}/users/${userId}`
const revokeAction = (d: Dashboard, userId: string, sessionId: string) => `${userPage(d, userId)}/sessions/${sessionId}/revoke`

/** A person signed up with a ticket in an instance (one session), then signed in again (a second). */
async function personWithTwoSessions(d: Dashboard, instance = { id: d.instanceId, secretKey: d.secretKey }) {
  const f = fapi(d.t.app)
  const invitation = await makeInvitation(client(d.t.app, instance.secretKey))
  const up = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(invitation), password: PASSWORD })
  assert.equal(up.status, 200, JSON.stringify(up.body))
  d.t.clock.advance(1000)
  const inn = await f.post('/v1/client/sign_ins', { identifier: invitation.email_address, password: PASSWORD, strategy: 'password' }, { instance: instance.id })
  assert.equal(inn.status, 200, JSON.stringify(inn.body))
  return {
    f, userId: up.body.response.created_user_id as string,
    first: { id: up.body.response.created_session_id as string, cookie: up.session! },
    second: { id: inn.body.response.created_session_id as string, cookie: inn.session! },
  }
}

/** The session rows of a user's page, by session id. */
const sessionRows = (body: string) => new Map([...body.matchAll(/<tr data-session="([^"]+)">([\s\S]*?)<\/tr>/g)].map((m) => [m[1]!, m[2]!]))

/** The session.* events queued in the dashboard's instance, sorted by name (queue times may tie). */
const sessionEvents = async (d: Dashboard) =>
  (await d.t.db.query<{ topic: string }>(`select topic from outbox where instance_id = $1 and topic like 'session.%'`, [d.instanceId])).map((r) => r.topic).sort()

forEachDatabase('dashboard: a user\'s sessions', (engine) => {
  // @see issue 13
  it('lists the user\'s sessions with status, created, last active and expiry; only active ones can be revoked', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const p = await personWithTwoSessions(d)
    assert.equal((await p.f.delete('/v1/client', { session: p.first.cookie })).status, 200)

    const page = await d.op.get(userPage(d, p.userId))
    assert.equal(page.statusCode, 200, page.body)
    const text = textOf(page.body)
    assert.match(text, /Sessions Session Status Created Last active Expires/)
    const rows = sessionRows(page.body)
    const second = await client(d.t.app, d.secretKey).get(`/v1/sessions/${p.second.id}`)
    assert.match(textOf(rows.get(p.second.id)!), new RegExp(`^${p.second.id} active \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC .* UTC .* UTC Revoke$`))
    assert.ok(rows.get(p.second.id)!.includes(new Date(second.body.expire_at).toISOString().replace('T', ' ').slice(0, 16)), 'shows the expiry')
    assert.match(textOf(rows.get(p.first.id)!), new RegExp(`^${p.first.id} ended `))
    assert.doesNotMatch(rows.get(p.first.id)!, /Revoke/, 'an ended session has no Revoke button')
    assert.ok(page.body.indexOf(p.second.id) < page.body.indexOf(p.first.id), 'newest first')
  })

  // @see issue 13
  it('Revoke revokes through the sessions service: status revoked, session.revoked queued, the cookie signs no one in', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const p = await personWithTwoSessions(d)
    const res = await d.submit(userPage(d, p.userId), revokeAction(d, p.userId, p.second.id))
    assert.equal(res.statusCode, 303, res.body)
    assert.equal(res.headers.location, `${userPage(d, p.userId)}?notice=session_revoked`)
    const after = await d.op.follow(res)
    assert.match(textOf(after.body), /The session was revoked: it signs no one in any more\./)
    assert.match(textOf(after.body), new RegExp(`${p.second.id} revoked `))

    const api = client(d.t.app, d.secretKey)
    assert.equal((await api.get(`/v1/sessions/${p.second.id}`)).body.status, 'revoked')
    assert.equal((await api.get(`/v1/sessions/${p.first.id}`)).body.status, 'active', 'the other session stays')
    assert.deepEqual(await sessionEvents(d), ['session.created', 'session.created', 'session.revoked'])
    assert.deepEqual((await p.f.get('/v1/client', { session: p.second.cookie })).body, { response: null, client: null })

    // The form of a session revoked meanwhile (another tab) revokes nothing more.
    const again = await d.op.post(revokeAction(d, p.userId, p.second.id), { _csrf: csrfOf(after.body) })
    assert.equal(again.headers.location, `${userPage(d, p.userId)}?notice=session_inactive`)
    assert.deepEqual(await sessionEvents(d), ['session.created', 'session.created', 'session.revoked'])
  })

  // @see issue 13
  it('refuses a revoke without a valid CSRF token (403), or of a session that is not this user\'s in this instance (404)', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const p = await personWithTwoSessions(d)
    const page = await d.op.get(userPage(d, p.userId))
    const fields = formFields(page.body, revokeAction(d, p.userId, p.second.id))
    assert.ok(fields._csrf)
    const foreign = csrfOf((await browser(d.t.app).get('/dashboard/sign-in')).body)
    for (const token of [undefined, '', foreign, 'garbage']) {
      const res = await d.op.post(revokeAction(d, p.userId, p.second.id), token === undefined ? {} : { _csrf: token })
      assert.equal(res.statusCode, 403, String(token))
    }
    const someoneElse = await personWithTwoSessions(d)
    const other = await d.t.newInstance('Other')
    const elsewhere = await personWithTwoSessions(d, { id: other.instance.id, secretKey: other.secretKey })
    for (const path of [
      revokeAction(d, p.userId, someoneElse.second.id), revokeAction(d, p.userId, 'sess_nothing'),
      revokeAction(d, elsewhere.userId, elsewhere.second.id), revokeAction(d, p.userId, elsewhere.second.id),
    ]) {
      assert.equal((await d.op.post(path, fields)).statusCode, 404, path)
    }
    const api = client(d.t.app, d.secretKey)
    for (const id of [p.second.id, someoneElse.second.id]) assert.equal((await api.get(`/v1/sessions/${id}`)).body.status, 'active')
    assert.equal((await client(d.t.app, other.secretKey).get(`/v1/sessions/${elsewhere.second.id}`)).body.status, 'active')
    assert.deepEqual((await sessionEvents(d)).filter((e) => e === 'session.revoked'), [])
  })

  // @see issue 13
  it('renders a hostile session id inert, in the text and in the form\'s action', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const p = await personWithTwoSessions(d)
    const hostile = 'sess_"><script>alert(1)</script>'
    const now = d.t.clock.now()
    await d.t.db.query(`insert into sessions (id, instance_id, user_id, token_hash, expires_at, last_active_at, created_at, updated_at)
      values ($1, $2, $3, 'hostile', $4, $5, $5, $5)`, [hostile, d.instanceId, p.userId, now + 60_000, now + 5000])
    const page = await d.op.get(userPage(d, p.userId))
    assert.equal(page.statusCode, 200)
    assert.doesNotMatch(page.body, /<script>alert/)
    assert.equal([...page.body.matchAll(/<script\b/g)].length, 1, 'only the dashboard\'s own script tag')
    assert.match(page.body, /sess_&quot;&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
    assert.ok(page.body.includes(`/sessions/${encodeURIComponent(hostile)}/revoke"`), 'the id is encoded in the action')
  })
})
