import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, PUBLIC_URL, buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { fapi, ticketOf, type Fapi } from './fapi-client.js'

const PASSWORD = 'correct horse battery'
const EVIL = 'https://evil.example.net'
// Same site as the app (example.com), another origin: SameSite=Lax would let its POSTs carry the cookie.
const SIBLING = 'https://evil.example.com'

forEachDatabase('Frontend API: CORS and cross-site requests', (engine) => {
  let t: TestApp
  let f: Fapi
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
  })
  after(() => t.close())

  const invitation = async () => {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    return { instance, api, inv: await makeInvitation(api) }
  }

  it('a preflight from an allowed origin is answered with that origin, credentials and the methods', async () => {
    for (const origin of [APP_ORIGIN, 'http://localhost:5173']) {
      for (const path of ['/v1/client/sign_ups', '/v1/client', '/v1/client/sessions/sess_1/end']) {
        const res = await f.options(path, { origin, headers: { 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
        assert.equal(res.status, 204, `${origin} ${path}`)
        assert.equal(res.headers['access-control-allow-origin'], origin)
        assert.equal(res.headers['access-control-allow-credentials'], 'true')
        assert.match(String(res.headers['access-control-allow-methods']), /POST/)
        assert.match(String(res.headers['access-control-allow-methods']), /DELETE/)
      }
    }
  })

  it('other origins get no CORS headers at all, on preflights and answers alike', async () => {
    for (const origin of [EVIL, SIBLING, 'null', 'https://app.example.com.evil.net', 'http://localhost.evil.net:5173']) {
      const pre = await f.options('/v1/client/sign_ins', { origin, headers: { 'access-control-request-method': 'POST' } })
      assert.equal(pre.headers['access-control-allow-origin'], undefined, origin)
      assert.equal(pre.headers['access-control-allow-credentials'], undefined, origin)
      const get = await f.get('/v1/client', { origin })
      assert.equal(get.status, 200)
      assert.equal(get.headers['access-control-allow-origin'], undefined, origin)
    }
    const allowed = await f.get('/v1/client', { origin: APP_ORIGIN })
    assert.equal(allowed.headers['access-control-allow-origin'], APP_ORIGIN)
    assert.equal(allowed.headers['access-control-allow-credentials'], 'true')
  })

  it('a POST from an origin that is not allowed is refused with 403 origin_invalid before anything happens', async () => {
    const { api, inv } = await invitation()
    for (const origin of [EVIL, SIBLING, 'null']) {
      for (const form of [true, false]) {
        const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(inv), password: PASSWORD }, { origin, form })
        assert.equal(res.status, 403, JSON.stringify(res.body))
        assert.equal(res.body.errors[0].code, 'origin_invalid')
        assert.equal(res.session, null)
      }
    }
    assert.equal((await api.get(`/v1/invitations?query=${inv.id}`)).body[0].status, 'pending')
  })

  it('a signed-in victim\'s cookie cannot be used to sign out from another origin', async () => {
    const { inv } = await invitation()
    const signedUp = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(inv), password: PASSWORD }, { origin: APP_ORIGIN })
    assert.equal(signedUp.status, 200)
    assert.equal(signedUp.headers['access-control-allow-origin'], APP_ORIGIN)
    const session = signedUp.session!
    const id = signedUp.body.response.created_session_id
    for (const req of [() => f.delete('/v1/client', { session, origin: SIBLING }), () => f.post(`/v1/client/sessions/${id}/end`, undefined, { session, origin: SIBLING })]) {
      const res = await req()
      assert.equal(res.status, 403)
      assert.equal(res.body.errors[0].code, 'origin_invalid')
    }
    assert.equal((await f.get('/v1/client', { session })).body.response.sessions.length, 1, 'still signed in')
  })

  it('POSTs from allowed origins, from Foyer\'s own origin, and without an Origin header (no browser page) go through', async () => {
    for (const origin of [APP_ORIGIN, 'http://localhost:3001', new URL(PUBLIC_URL).origin, undefined]) {
      const { inv } = await invitation()
      const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(inv), password: PASSWORD }, origin ? { origin } : {})
      assert.equal(res.status, 200, `${origin}: ${JSON.stringify(res.body)}`)
    }
  })

  it('a sign-in waiting for its password counts as touching its instance: an origin only the default instance allows cannot finish it', async () => {
    const defaultOnly = 'https://default-only.example.org'
    const { secretKey } = await t.services.instances.create({ name: 'Default', isDefault: true })
    assert.equal((await client(t.app, secretKey).patch('/v1/instance', { allowed_redirect_origins: [defaultOnly] })).status, 200)
    const { instance } = await t.newInstance()
    const email = `waiting.${Date.now()}@example.com`
    const started = await f.post('/v1/client/sign_ins', { identifier: email }, { instance: instance.id, form: true })
    assert.equal(started.status, 200, JSON.stringify(started.body))
    const res = await f.post(`/v1/client/sign_ins/${started.body.response.id}/attempt_first_factor`, { strategy: 'password', password: PASSWORD }, { form: true, origin: defaultOnly })
    assert.equal(res.status, 403, JSON.stringify(res.body))
    assert.equal(res.body.errors[0].code, 'origin_invalid')
  })

  it('the Backend API answers no CORS headers, even to an allowed origin', async () => {
    const { secretKey } = await t.newInstance()
    const res = await t.app.inject({ method: 'GET', url: '/v1/invitations', headers: { authorization: `Bearer ${secretKey}`, origin: APP_ORIGIN } })
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['access-control-allow-origin'], undefined)
    const pre = await t.app.inject({ method: 'OPTIONS', url: '/v1/invitations', headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST' } })
    assert.equal(pre.headers['access-control-allow-origin'], undefined)
  })
})
