import { after, before, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkClient } from '@clerk/backend'
import { APP_ORIGIN, buildTestApp, type TestApp } from '../helpers/build-app.js'
import { signedUp as signUpWithTicket } from './signed-up.js'
import { forEachDatabase } from '../helpers/databases.js'
import { claimsOf } from '../helpers/jwt.js'
import { makeInvitation } from '../helpers/factories.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { fapi, ticketOf, type Fapi } from '../frontend/fapi-client.js'
import { createClerkClient, exchanges, recorded, sdkError } from '../contract/sdk-recorder.js'
import { cookieSuffix } from '../../src/sessions/clerk-cookies.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import { refreshTokenFor } from '../../src/sessions/refresh-tokens.js'
import type { Instance } from '../../src/instance/instance.schemas.js'

// Imported after the recorder, which must patch fetch before @clerk/backend loads.
const { verifyToken } = await import('@clerk/backend')

const spec = loadBapiSpec()
const PASSWORD = 'correct horse battery'

forEachDatabase('POST /v1/sessions/{id}/refresh', (engine) => {
  let t: TestApp
  let f: Fapi
  let apiUrl: string

  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    apiUrl = await t.app.listen({ port: 0, host: '127.0.0.1' })
  })
  after(() => t.close())
  beforeEach(() => {
    exchanges.length = 0
  })

  /** A person signed up with a ticket, their application's client of @clerk/backend, and their refresh token. */
  async function signedUp() {
    const person = await signUpWithTicket(t)
    const clerk: ClerkClient = createClerkClient({ secretKey: person.secretKey, apiUrl, publishableKey: person.instance.publishableKey, telemetry: { disabled: true } })
    return { ...person, clerk, refreshToken: refreshTokenFor(t.serverSecret, person.instance.id, person.sessionId) }
  }

  /**
   * A token for the session that expired a minute ago: minted with the server's clock two
   * minutes back (60 s of life, and past the 5 s of skew @clerk/backend allows).
   */
  async function expiredToken(instance: Instance, sessionId: string): Promise<string> {
    t.clock.advance(-120_000)
    try {
      return await t.services.sessionTokens.mint(instance, sessionId)
    } finally {
      t.clock.advance(120_000)
    }
  }

  /**
   * A GET to the application as a browser sends it after a handshake: the expired token, the
   * client's sign-in time, the refresh token and a development browser, all under the
   * publishable key's suffix. `html` makes it a page navigation, which may be sent to a handshake.
   */
  function appRequest(instance: Instance, cookies: { session: string; refresh: string }, o: { html?: boolean; method?: string } = {}): Request {
    const sfx = cookieSuffix(instance.publishableKey)
    const jar = {
      [`__session_${sfx}`]: cookies.session,
      [`__client_uat_${sfx}`]: String(claimsOf(cookies.session).iat),
      [`__refresh_${sfx}`]: cookies.refresh,
      [`__clerk_db_jwt_${sfx}`]: 'dvb_test',
    }
    const headers: Record<string, string> = { cookie: Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ') }
    if (o.html) Object.assign(headers, { accept: 'text/html', 'sec-fetch-dest': 'document' })
    return new Request(`${APP_ORIGIN}/dashboard`, { method: o.method ?? 'GET', headers })
  }

  const refreshPath = (sessionId: string) => `/v1/sessions/${sessionId}/refresh`

  describe('through authenticateRequest of @clerk/backend', () => {
    // @see issue 13
    it('signs an expired cookie back in with a fresh token and the cookie lines to set, with no redirect', async () => {
      const { instance, secretKey, clerk, userId, sessionId, refreshToken } = await signedUp()
      const expired = await expiredToken(instance, sessionId)
      assert.equal((await verifyToken(expired, { secretKey, apiUrl }).catch((e) => e)).reason, 'token-expired')

      const state = await clerk.authenticateRequest(appRequest(instance, { session: expired, refresh: refreshToken }, { html: true }))
      assert.equal(state.status, 'signed-in', `${state.reason} ${state.message}`)
      const auth = state.toAuth()
      assert.equal(auth?.userId, userId)
      assert.equal(auth?.sessionId, sessionId)
      assert.ok(state.token && state.token !== expired)
      const claims = claimsOf(state.token)
      assert.equal(claims.azp, APP_ORIGIN)
      assert.equal(claims.sid, sessionId)
      assert.ok(claims.exp * 1000 > Date.now())

      const raw = recorded('POST', refreshPath(sessionId))
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('RefreshSession', 200), raw.body, 'POST /v1/sessions/{id}/refresh 200 body')
      assert.equal(raw.url.searchParams.get('suffixed_cookies'), 'true')
      // The lines the application appends: the token under both names, Secure for an https app.
      const sfx = cookieSuffix(instance.publishableKey)
      assert.deepEqual(raw.body, {
        object: 'cookies',
        cookies: [`__session_${sfx}=${state.token}; Path=/; SameSite=Lax; Secure`, `__session=${state.token}; Path=/; SameSite=Lax; Secure`],
      })
      assert.deepEqual(state.headers.getSetCookie(), raw.body.cookies)
      assert.equal(state.headers.get('location'), null)
    })

    // @see issue 13
    it('the cookies Foyer\'s handshake left are refreshed once their token has expired', async () => {
      // Signed up and handshaken two minutes ago (Foyer's clock), so that the token the
      // handshake minted has expired by the wall clock @clerk/backend verifies with.
      t.clock.advance(-120_000)
      let s: Awaited<ReturnType<typeof signedUp>>
      let directives: string[]
      try {
        s = await signedUp()
        const res = await t.app.inject({
          method: 'GET',
          url: `/fapi/${s.instance.id}/v1/client/handshake?${new URLSearchParams({ redirect_url: `${APP_ORIGIN}/`, format: 'token', suffixed_cookies: 'true' })}`,
          headers: { cookie: `${SESSION_COOKIE}=${encodeURIComponent(s.cookie)}` },
        })
        assert.equal(res.statusCode, 307, res.body)
        const carried = new URL(String(res.headers.location)).searchParams.get('__clerk_handshake')!
        directives = claimsOf(carried).handshake
      } finally {
        t.clock.advance(120_000)
      }
      // The browser keeps what the directives set (a cookie line's name=value), nothing else.
      const browserCookies = directives.map((line) => line.split(';')[0]!).filter((pair) => !pair.endsWith('='))
      const state = await s.clerk.authenticateRequest(new Request(`${APP_ORIGIN}/page`, {
        headers: { cookie: browserCookies.join('; '), accept: 'text/html', 'sec-fetch-dest': 'document' },
      }))
      assert.equal(state.status, 'signed-in', `${state.reason} ${state.message}`)
      assert.equal(state.toAuth()?.sessionId, s.sessionId)
      assert.equal(recorded('POST', refreshPath(s.sessionId)).status, 200)
    })

    // @see issue 13
    it('a revoked or signed-out session is not refreshed: signed out for a fetch, a handshake for a page', async () => {
      for (const end of ['revoke', 'sign out'] as const) {
        const { instance, clerk, cookie, sessionId, refreshToken } = await signedUp()
        const expired = await expiredToken(instance, sessionId)
        if (end === 'revoke') await clerk.sessions.revokeSession(sessionId)
        else assert.equal((await f.delete('/v1/client', { session: cookie })).status, 200)

        const fetched = await clerk.authenticateRequest(appRequest(instance, { session: expired, refresh: refreshToken }))
        assert.equal(fetched.status, 'signed-out', end)
        assert.equal(fetched.reason, 'session-token-expired-refresh-resource_not_found', end)
        const raw = recorded('POST', refreshPath(sessionId))
        assert.equal(raw.status, 404)
        assertMatchesSpec(spec.component('ClerkErrors'), raw.body, 'refresh 404 body')
        assert.equal(raw.body.errors[0].code, 'resource_not_found')

        const page = await clerk.authenticateRequest(appRequest(instance, { session: expired, refresh: refreshToken }, { html: true }))
        assert.equal(page.status, 'handshake', end)
        assert.match(page.headers.get('location') ?? '', /\/v1\/client\/handshake\?/)
      }
    })

    // @see issue 13
    it('a forged refresh cookie is refused with 401 naming refresh_token, and the request is not signed in', async () => {
      const { instance, api, clerk, sessionId, refreshToken } = await signedUp()
      const expired = await expiredToken(instance, sessionId)
      const forged = refreshToken.slice(0, -2) + (refreshToken.endsWith('AA') ? 'BB' : 'AA')
      const state = await clerk.authenticateRequest(appRequest(instance, { session: expired, refresh: forged }))
      assert.equal(state.status, 'signed-out')
      assert.equal(state.reason, 'session-token-expired-refresh-authentication_invalid')
      const raw = recorded('POST', refreshPath(sessionId))
      assert.equal(raw.status, 401)
      assertMatchesSpec(spec.response('RefreshSession', 401), raw.body, 'refresh 401 body')
      assert.equal(raw.body.errors[0].meta.param_name, 'refresh_token')
      // Another session's refresh token is as wrong as a made-up one.
      const other = await signedUp()
      const res = await api.post(refreshPath(sessionId), {
        expired_token: expired, refresh_token: refreshTokenFor(t.serverSecret, instance.id, other.sessionId), request_origin: APP_ORIGIN,
      })
      assert.equal(res.status, 401)
      assert.equal(res.body.errors[0].meta.param_name, 'refresh_token')
    })

    // @see issue 13
    it('a POST is never refreshed (Clerk\'s SDK refreshes GETs only): the refresh path is not called', async () => {
      const { instance, clerk, sessionId, refreshToken } = await signedUp()
      const expired = await expiredToken(instance, sessionId)
      const state = await clerk.authenticateRequest(appRequest(instance, { session: expired, refresh: refreshToken }, { method: 'POST' }))
      assert.equal(state.status, 'signed-out')
      assert.equal(exchanges.some((x) => x.url.pathname === refreshPath(sessionId)), false)
    })
  })

  describe('the Backend API route itself', () => {
    async function setUp() {
      const s = await signedUp()
      return { ...s, expired: await expiredToken(s.instance, s.sessionId) }
    }

    // @see issue 13
    it('answers {object: token, jwt} by default; the token verifies, with azp only when an origin was given', async () => {
      const { api, secretKey, sessionId, userId, refreshToken, expired } = await setUp()
      const res = await api.post(refreshPath(sessionId), { expired_token: expired, refresh_token: refreshToken, request_origin: 'http://localhost:5173' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('RefreshSession', 200), res.body, 'refresh 200 token body')
      assert.equal(res.body.object, 'token')
      const verified = await verifyToken(res.body.jwt, { secretKey, apiUrl })
      assert.equal(verified.sub, userId)
      assert.equal(verified.sid, sessionId)
      assert.equal(verified.azp, 'http://localhost:5173')

      const bare = await api.post(refreshPath(sessionId), { expired_token: expired, refresh_token: refreshToken, format: null })
      assert.equal(bare.status, 200, JSON.stringify(bare.body))
      assert.equal(bare.body.object, 'token')
      assert.equal('azp' in claimsOf(bare.body.jwt), false)
    })

    // @see issue 13
    it('format cookie without suffixed_cookies sets the unsuffixed cookie only, not Secure for an http origin', async () => {
      const { api, sessionId, refreshToken, expired } = await setUp()
      for (const query of ['', '?suffixed_cookies=false']) {
        const res = await api.post(`${refreshPath(sessionId)}${query}`, { expired_token: expired, refresh_token: refreshToken, request_origin: 'http://localhost:5173', format: 'cookie' })
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assertMatchesSpec(spec.response('RefreshSession', 200), res.body, 'refresh 200 cookies body')
        assert.equal(res.body.cookies.length, 1)
        assert.match(res.body.cookies[0], /^__session=[\w-]+\.[\w-]+\.[\w-]+; Path=\/; SameSite=Lax$/)
      }
    })

    // @see issue 13
    it('refuses an expired_token that is not this instance\'s token for this session with 401 naming it', async () => {
      const { instance, api, sessionId, refreshToken, expired } = await setUp()
      const sameInstance = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(await makeInvitation(api)), password: PASSWORD })
      assert.equal(sameInstance.status, 200, JSON.stringify(sameInstance.body))
      const [header, payload, signature] = expired.split('.') as [string, string, string]
      const otherSid = Buffer.from(JSON.stringify({ ...claimsOf(expired), sid: 'sess_someoneelse' })).toString('base64url')
      const elsewhere = await setUp()
      const candidates: Record<string, string> = {
        'not a JWT': 'abc',
        'a payload changed after signing': `${header}.${Buffer.from(JSON.stringify({ ...claimsOf(expired), exp: 9_999_999_999 })).toString('base64url')}.${signature}`,
        'another sid, resigned by no one': `${header}.${otherSid}.${signature}`,
        'no signature': `${header}.${payload}.`,
        'another instance\'s token': elsewhere.expired,
        'a kid that is no key': `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'jwk_\u0000x', typ: 'JWT' })).toString('base64url')}.${payload}.${signature}`,
        'a token of another session of the instance': await t.services.sessionTokens.mint(instance, sameInstance.body.response.created_session_id),
      }
      for (const [what, token] of Object.entries(candidates)) {
        const res = await api.post(refreshPath(sessionId), { expired_token: token, refresh_token: refreshToken, request_origin: APP_ORIGIN })
        assert.equal(res.status, 401, `${what}: ${JSON.stringify(res.body)}`)
        assertMatchesSpec(spec.response('RefreshSession', 401), res.body, `refresh 401 body (${what})`)
        assert.equal(res.body.errors[0].code, 'authentication_invalid', what)
        assert.equal(res.body.errors[0].meta.param_name, 'expired_token', what)
      }
    })

    // @see issue 13
    it('accepts a token signed by a key retired since (the token outlived a rotation)', async () => {
      const { api, sessionId, refreshToken, expired } = await setUp()
      assert.equal((await api.post('/v1/jwks/rotate')).status, 200)
      const res = await api.post(refreshPath(sessionId), { expired_token: expired, refresh_token: refreshToken, request_origin: APP_ORIGIN })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.notEqual(JSON.parse(Buffer.from(res.body.jwt.split('.')[0], 'base64url').toString()).kid,
        JSON.parse(Buffer.from(expired.split('.')[0]!, 'base64url').toString()).kid)
    })

    // @see issue 13
    it('answers 404 for another instance\'s session, whatever it is shown', async () => {
      const { sessionId, refreshToken, expired } = await setUp()
      const other = await setUp()
      const err = await sdkError(other.clerk.sessions.refreshSession(sessionId, {
        expired_token: expired, refresh_token: refreshToken, request_origin: APP_ORIGIN, format: 'token', request_headers: {},
      } as Parameters<ClerkClient['sessions']['refreshSession']>[1]))
      assert.equal(err.status, 404)
      assert.equal(err.errors[0]?.code, 'resource_not_found')
      assertMatchesSpec(spec.component('ClerkErrors'), recorded('POST', refreshPath(sessionId)).body, 'refresh 404 body')
      const unknown = await other.api.post(refreshPath('sess_nothing'), { expired_token: expired, refresh_token: refreshToken, request_origin: APP_ORIGIN })
      assert.equal(unknown.status, 404)
    })

    // @see issue 13
    it('refuses bad parameters with 422 naming them', async () => {
      const { api, sessionId, refreshToken, expired } = await setUp()
      const cases: [Record<string, unknown>, string][] = [
        [{ refresh_token: refreshToken }, 'expired_token'],
        [{ expired_token: expired }, 'refresh_token'],
        [{ expired_token: expired, refresh_token: refreshToken, request_origin: 'not an origin' }, 'request_origin'],
        [{ expired_token: expired, refresh_token: refreshToken, request_origin: `${APP_ORIGIN}/path` }, 'request_origin'],
        [{ expired_token: expired, refresh_token: refreshToken, request_origin: 'javascript:alert(1)' }, 'request_origin'],
        [{ expired_token: expired, refresh_token: refreshToken, format: 'xml' }, 'format'],
        [{ expired_token: expired, refresh_token: refreshToken, surprise: 1 }, 'surprise'],
      ]
      for (const [body, param] of cases) {
        const res = await api.post(refreshPath(sessionId), body)
        assert.equal(res.status, 422, `${param}: ${JSON.stringify(res.body)}`)
        assertMatchesSpec(spec.component('ClerkErrors'), res.body, `refresh 422 body (${param})`)
        assert.equal(res.body.errors[0].meta.param_name, param)
      }
    })
  })
})
