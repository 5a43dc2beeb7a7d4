import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { addMember, makeOrganization } from '../helpers/factories.js'
import { claimsOf } from '../helpers/jwt.js'
import { assertMatchesFapi } from '../helpers/spec.js'
import { signedUp } from '../sessions/signed-up.js'
import { assertClerkError, fapi, type Fapi, type FapiReply } from './fapi-client.js'

const { verifyToken } = await import('@clerk/backend')
const PASSWORD = 'correct horse battery'
// What clerk-js adds to every request.
const CLERK_JS = '__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0'

forEachDatabase('Frontend API: touching a session and minting its tokens, as clerk-js does', (engine) => {
  let t: TestApp
  let f: Fapi
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
  })
  after(() => t.close())

  const touch = (s: { instance: { id: string }; cookie: string }, sessionId: string, body: Record<string, unknown>) =>
    f.post(`/fapi/${s.instance.id}/v1/client/sessions/${sessionId}/touch?${CLERK_JS}`, body, { session: s.cookie, form: true, origin: APP_ORIGIN })
  const tokens = (s: { instance: { id: string }; cookie: string }, sessionId: string, body: Record<string, unknown>) =>
    f.post(`/fapi/${s.instance.id}/v1/client/sessions/${sessionId}/tokens?${CLERK_JS}`, body, { session: s.cookie, form: true, origin: APP_ORIGIN })

  /** A person who signed up by an organization invitation (so acting in it), and a second organization they belong to. */
  async function member() {
    const s = await signedUp(t)
    const first = await makeOrganization(s.api)
    const second = await makeOrganization(s.api)
    await addMember(s.api, first.id, s.userId)
    await addMember(s.api, second.id, s.userId, 'org:admin')
    return { ...s, first, second }
  }

  describe('POST /v1/client/sessions/{id}/touch', () => {
    it('answers {response: Session, client} in the reference\'s TouchSession shape, for the cookie\'s own session', async () => {
      const s = await signedUp(t)
      const res = await touch(s, s.sessionId, { active_organization_id: '', intent: 'select_session' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.TouchWrappedSession', res.body)
      assert.equal(res.headers['access-control-allow-origin'], APP_ORIGIN)
      assert.equal(res.body.response.id, s.sessionId)
      assert.equal(res.body.response.status, 'active')
      assert.equal(res.body.response.user.id, s.userId)
      assert.deepEqual(res.body.client.sessions.map((x: { id: string }) => x.id), [s.sessionId])
      assert.equal(res.body.client.last_active_session_id, s.sessionId)
      assert.equal(res.session, null, 'the cookie is left as it is')
    })

    it('sets the active organization by id or slug for a member, \'\' for none; refuses one the person is no member of with 404', async () => {
      const s = await member()
      const active = async () => (await f.get('/v1/client', { session: s.cookie })).body.response.sessions[0].last_active_organization_id
      assert.equal(await active(), null)

      const byId = await touch(s, s.sessionId, { active_organization_id: s.first.id, intent: 'select_org' })
      assert.equal(byId.status, 200, JSON.stringify(byId.body))
      assert.equal(byId.body.response.last_active_organization_id, s.first.id)
      assert.equal(byId.body.client.sessions[0].last_active_organization_id, s.first.id)
      assert.equal(await active(), s.first.id)

      const bySlug = await touch(s, s.sessionId, { active_organization_id: s.second.slug, intent: 'select_org' })
      assert.equal(bySlug.body.response.last_active_organization_id, s.second.id)

      // clerk-js sends back what the session said: that changes nothing.
      assert.equal((await touch(s, s.sessionId, { active_organization_id: s.second.id, intent: 'focus' })).body.response.last_active_organization_id, s.second.id)
      assert.equal((await touch(s, s.sessionId, { intent: 'focus' })).body.response.last_active_organization_id, s.second.id, 'left out: unchanged')

      const other = await makeOrganization(s.api)
      assertClerkError(await touch(s, s.sessionId, { active_organization_id: other.id }), 404, 'organization_not_found_or_unauthorized', 'active_organization_id')
      assertClerkError(await touch(s, s.sessionId, { active_organization_id: 'org_nope' }), 404, 'organization_not_found_or_unauthorized', 'active_organization_id')
      assert.equal(await active(), s.second.id, 'unchanged')

      const none = await touch(s, s.sessionId, { active_organization_id: '', intent: 'select_org' })
      assert.equal(none.body.response.last_active_organization_id, null)
      assert.equal(await active(), null)
    })

    it('a session token minted after a touch speaks for the organization it made active', async () => {
      const s = await member()
      await touch(s, s.sessionId, { active_organization_id: s.second.id })
      const minted = await tokens(s, s.sessionId, { tab_state: 'focused' })
      assert.deepEqual(claimsOf(minted.body.jwt).o, { id: s.second.id, slg: s.second.slug, rol: 'admin' })
    })
  })

  describe('POST /v1/client/sessions/{id}/tokens', () => {
    it('answers a top-level {object: token, jwt} that @clerk/backend verifies, for the page\'s origin', async () => {
      const s = await signedUp(t)
      const res = await tokens(s, s.sessionId, { organization_id: '', tab_state: 'focused' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual(Object.keys(res.body).sort(), ['jwt', 'object'])
      assert.equal(res.body.object, 'token')
      assert.equal(res.headers['access-control-allow-origin'], APP_ORIGIN)
      const { jwt_public_key: jwtKey } = (await s.api.get('/v1/instance')).body
      const claims = await verifyToken(res.body.jwt, { jwtKey, authorizedParties: [APP_ORIGIN] })
      assert.equal(claims.sub, s.userId)
      assert.equal(claims.sid, s.sessionId)
      assert.equal(claims.azp, APP_ORIGIN)
      assert.equal(claims.o, undefined)
      assert.ok(typeof claims.iat === 'number' && typeof claims.exp === 'number')
    })

    it('organization_id picks the token\'s organization among the person\'s own; left out, the session\'s active one; \'\', none', async () => {
      const s = await member()
      await touch(s, s.sessionId, { active_organization_id: s.first.id })
      const o = async (body: Record<string, unknown>) => {
        const res = await tokens(s, s.sessionId, body)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        return claimsOf(res.body.jwt).o
      }
      assert.deepEqual(await o({}), { id: s.first.id, slg: s.first.slug, rol: 'member' })
      assert.deepEqual(await o({ organization_id: s.second.id }), { id: s.second.id, slg: s.second.slug, rol: 'admin' })
      assert.equal(await o({ organization_id: '' }), undefined)
      const other = await makeOrganization(s.api)
      assertClerkError(await tokens(s, s.sessionId, { organization_id: other.id }), 404, 'organization_not_found_or_unauthorized', 'organization_id')
      // A token is no touch: the session still acts in the first organization.
      assert.deepEqual(await o({}), { id: s.first.id, slg: s.first.slug, rol: 'member' })
    })
  })

  describe('whose session', () => {
    it('another session\'s id with a live cookie: 404; no live cookie: 401 signed_out, which makes clerk-js reload its client and sign out', async () => {
      const s = await signedUp(t)
      const other = await signedUp(t)
      for (const call of [touch, tokens]) {
        assertClerkError(await call(s, other.sessionId, {}), 404, 'resource_not_found')
        assertClerkError(await call(s, 'sess_nope', {}), 404, 'resource_not_found')
        assertClerkError(await call({ ...s, cookie: 'not-a-session' }, s.sessionId, {}), 401, 'signed_out')
        // The cookie's session belongs to another instance than the path names.
        assertClerkError(await call({ ...s, instance: other.instance }, s.sessionId, {}), 401, 'signed_out')
      }
      const noCookie = await f.post(`/v1/client/sessions/${s.sessionId}/tokens`, {}, { form: true })
      assertClerkError(noCookie, 401, 'signed_out')
    })

    it('a session revoked through the Backend API, or signed out, answers 401 signed_out', async () => {
      const revoked = await signedUp(t)
      assert.equal((await tokens(revoked, revoked.sessionId, {})).status, 200)
      assert.equal((await revoked.api.post(`/v1/sessions/${revoked.sessionId}/revoke`)).status, 200)
      assertClerkError(await tokens(revoked, revoked.sessionId, {}), 401, 'signed_out')
      assertClerkError(await touch(revoked, revoked.sessionId, {}), 401, 'signed_out')

      const ended = await signedUp(t)
      assert.equal((await f.post(`/v1/client/sessions?_method=DELETE`, {}, { session: ended.cookie, form: true })).status, 200)
      assertClerkError(await tokens(ended, ended.sessionId, {}), 401, 'signed_out')
    })
  })

  describe('the Client', () => {
    it('cookie_expires_at is null, and updated_at is the sign-in: touches, tokens and time do not move it', async () => {
      const s = await signedUp(t)
      const first = (await f.get('/v1/client', { session: s.cookie })).body.response
      assertMatchesFapi('Client.Client-2', first)
      assert.equal(first.cookie_expires_at, null)
      assert.equal(first.updated_at, first.sessions[0].created_at)
      t.clock.advance(5 * 60 * 1000)
      await touch(s, s.sessionId, { intent: 'focus' })
      await tokens(s, s.sessionId, {})
      const later = (await f.get('/v1/client', { session: s.cookie })).body.response
      assert.ok(later.sessions[0].last_active_at > first.sessions[0].last_active_at, 'the session was active meanwhile')
      assert.equal(later.updated_at, first.updated_at)
    })

    it('a new sign-in is a new Client updated_at', async () => {
      const s = await signedUp(t)
      const before = (await f.get('/v1/client', { session: s.cookie })).body.response.updated_at
      assert.equal((await f.post('/v1/client?_method=DELETE', {}, { session: s.cookie, form: true })).status, 200)
      t.clock.advance(60 * 1000)
      const email = (await s.api.get(`/v1/users/${s.userId}`)).body.email_addresses[0].email_address
      const again = await f.post('/v1/client/sign_ins', { identifier: email, password: PASSWORD }, { instance: s.instance.id, form: true })
      assert.equal(again.status, 200, JSON.stringify(again.body))
      assert.ok(again.body.client.updated_at > before)
    })
  })
})
