import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { fapi, ticketOf, type Fapi } from '../frontend/fapi-client.js'
import { refreshTokenFor } from '../../src/sessions/refresh-tokens.js'

const spec = loadBapiSpec()
const PASSWORD = 'correct horse battery'
const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

forEachDatabase('last_active_at of sessions and users', (engine) => {
  let t: TestApp
  let f: Fapi
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
  })
  after(() => t.close())

  async function signedUp() {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(await makeInvitation(api)), password: PASSWORD })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return { instance, api, cookie: res.session!, userId: res.body.response.created_user_id as string, sessionId: res.body.response.created_session_id as string }
  }

  /** The SQL statements the app sends while `fn` runs. */
  async function statementsDuring(fn: () => Promise<unknown>): Promise<string[]> {
    const sent: string[] = []
    const query = t.db.query.bind(t.db)
    t.db.query = ((sql: string, params?: readonly unknown[]) => {
      sent.push(sql.replace(/\s+/g, ' ').trim())
      return query(sql, params)
    }) as typeof t.db.query
    try {
      await fn()
    } finally {
      t.db.query = query
    }
    return sent
  }

  const sessionOf = async (api: ReturnType<typeof client>, id: string) => {
    const res = await api.get(`/v1/sessions/${id}`)
    assert.equal(res.status, 200)
    assertMatchesSpec(spec.response('GetSession', 200), res.body, 'GET /v1/sessions/{id} 200 body')
    return res.body as { last_active_at: number; created_at: number; updated_at: number }
  }

  describe('minting a token (POST /v1/sessions/{id}/tokens)', () => {
    // @see issue 13
    it('moves the session\'s last_active_at at most once a minute, writing nothing while it is fresh', async () => {
      const { api, sessionId } = await signedUp()
      const created = await sessionOf(api, sessionId)
      assert.equal(created.last_active_at, created.created_at)

      const fresh = await statementsDuring(async () => assert.equal((await api.post(`/v1/sessions/${sessionId}/tokens`)).status, 200))
      assert.deepEqual(fresh.filter((sql) => /\bupdate \w+( \w+)? set /i.test(sql)), [], 'no write while the stamp is under a minute old')
      assert.equal((await sessionOf(api, sessionId)).last_active_at, created.last_active_at)

      t.clock.advance(MINUTE + 1000)
      const stale = await statementsDuring(async () => assert.equal((await api.post(`/v1/sessions/${sessionId}/tokens`)).status, 200))
      assert.equal(stale.filter((sql) => /\bupdate \w+( \w+)? set /i.test(sql)).length, 1, 'one write once it is older')
      const stamped = await sessionOf(api, sessionId)
      assert.equal(stamped.last_active_at, t.clock.now())
      // Activity is no update of the session itself.
      assert.equal(stamped.updated_at, created.updated_at)

      // Thirty seconds later the stamp is still fresh: another token leaves it where it is.
      t.clock.advance(30_000)
      assert.equal((await api.post(`/v1/sessions/${sessionId}/tokens`)).status, 200)
      assert.equal((await sessionOf(api, sessionId)).last_active_at, stamped.last_active_at)
    })

    // @see issue 13
    it('the user\'s last_active_at (to the day, as Clerk gives it) follows its latest session', async () => {
      const { api, userId, sessionId } = await signedUp()
      const before = (await api.get(`/v1/users/${userId}`)).body.last_active_at as number
      assert.equal(before, Math.floor((await sessionOf(api, sessionId)).created_at / DAY) * DAY)
      t.clock.advance(DAY)
      try {
        assert.equal((await api.post(`/v1/sessions/${sessionId}/tokens`)).status, 200)
        const user = await api.get(`/v1/users/${userId}`)
        assertMatchesSpec(spec.response('GetUser', 200), user.body, 'GET /v1/users/{id} 200 body')
        assert.equal(user.body.last_active_at, before + DAY)
      } finally {
        t.clock.advance(-DAY)
      }
    })
  })

  describe('the Frontend API', () => {
    // @see issue 13
    it('shows the session\'s activity, but the Client\'s updated_at stays the sign-in (clerk-js keeps it as __client_uat)', async () => {
      const { instance, api, cookie, sessionId } = await signedUp()
      const signedIn = (await f.get('/v1/client', { session: cookie, instance: instance.id })).body.response
      t.clock.advance(2 * MINUTE)
      assert.equal((await api.post(`/v1/sessions/${sessionId}/tokens`)).status, 200)
      const client = (await f.get('/v1/client', { session: cookie, instance: instance.id })).body.response
      assert.equal(client.sessions[0].last_active_at, signedIn.sessions[0].last_active_at + 2 * MINUTE)
      // A token minted before this activity must not look older than the client to @clerk/backend.
      assert.equal(client.updated_at, signedIn.updated_at)
      assert.equal(client.updated_at, client.sessions[0].created_at)
    })
  })

  describe('refreshing (POST /v1/sessions/{id}/refresh)', () => {
    // @see issue 13
    it('moves last_active_at like any token, at most once a minute', async () => {
      const { instance, api, sessionId } = await signedUp()
      const expired = await t.services.sessionTokens.mint(instance, sessionId)
      const body = { expired_token: expired, refresh_token: refreshTokenFor(t.serverSecret, instance.id, sessionId), request_origin: APP_ORIGIN }
      const start = (await sessionOf(api, sessionId)).last_active_at
      t.clock.advance(2 * MINUTE)
      assert.equal((await api.post(`/v1/sessions/${sessionId}/refresh`, body)).status, 200)
      const stamped = (await sessionOf(api, sessionId)).last_active_at
      assert.equal(stamped, start + 2 * MINUTE)
      t.clock.advance(10_000)
      assert.equal((await api.post(`/v1/sessions/${sessionId}/refresh`, body)).status, 200)
      assert.equal((await sessionOf(api, sessionId)).last_active_at, stamped)
    })
  })
})
