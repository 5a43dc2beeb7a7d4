import { after, before, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkClient } from '@clerk/backend'
import { client, uniqueEmail, type Client, type TestApp, forEachSdkTarget, startSdkServer, type SdkServer } from '../helpers/build-app.js'
import { makeInvitation, makeOrganization } from '../helpers/factories.js'
import { assertMatchesFapi, assertMatchesSpec, loadBapiSpec, webhookEventValidator } from '../helpers/spec.js'
import { fapi, outboxTopics, ticketOf, type Fapi, type FapiReply } from '../frontend/fapi-client.js'
import { browser, textOf } from '../pages/page-client.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import { createClerkClient, exchanges, recorded, sdkError } from './sdk-recorder.js'

const spec = loadBapiSpec()
const PASSWORD = 'correct horse battery'
const APP = 'http://localhost:5173'

forEachSdkTarget('@clerk/backend bans, locks and verifyPassword', (target) => {
  let server: SdkServer
  let t: TestApp
  let f: Fapi
  let apiUrl: string

  before(async () => {
    server = await startSdkServer(target)
    t = server.t
    f = fapi(t.app)
    apiUrl = server.apiUrl
  })
  after(() => server.close())
  beforeEach(() => {
    exchanges.length = 0
  })

  interface Person {
    instance: Instance
    secretKey: string
    clerk: ClerkClient
    api: Client
    userId: string
    email: string
    /** A pending application invitation to the person's address, made before the account. */
    ticket: string
  }

  /** A user with PASSWORD, in a new instance, and an invitation to their address they can sign in with. */
  async function person(): Promise<Person> {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const email = uniqueEmail('banned')
    const invitation = await makeInvitation(api, { email_address: email })
    const clerk = createClerkClient({ secretKey, apiUrl, telemetry: { disabled: true } })
    const user = await clerk.users.createUser({ emailAddress: [email], password: PASSWORD })
    return { instance, secretKey, clerk, api, userId: user.id, email, ticket: ticketOf(invitation) }
  }

  const fapiSignIn = (p: Person, password = PASSWORD) =>
    f.post('/v1/client/sign_ins', { identifier: p.email, password }, { instance: p.instance.id, form: true })

  function assertRefused(res: FapiReply, code: string) {
    assert.equal(res.status, 403, JSON.stringify(res.body))
    assertMatchesFapi('ClerkErrors', res.body)
    assert.equal(res.body.errors[0].code, code)
    assert.ok(res.body.errors[0].long_message)
    assert.equal(res.session, null, 'a refused sign-in sets no session cookie')
  }

  /**
   * Every way an existing account signs in, each answering what it answered: the status, the
   * error code (or null) and whether a session started.
   */
  const ROUTES: Array<{ route: string; attempt: (p: Person) => Promise<{ status: number; code: string | null; signedIn: boolean }> }> = [
    {
      route: 'hosted page POST /sign-in',
      attempt: async (p) => {
        const b = browser(t.app)
        const res = await b.submit(await b.get(`/sign-in?instance=${p.instance.id}`), { identifier: p.email, password: PASSWORD })
        const text = textOf(res.body)
        const code = /banned/.test(text) ? 'user_banned' : /locked/.test(text) ? 'user_locked' : null
        return { status: res.statusCode, code, signedIn: Boolean(b.jar.get(SESSION_COOKIE)) }
      },
    },
    {
      route: 'Frontend API sign_ins with identifier and password',
      attempt: async (p) => {
        const res = await fapiSignIn(p)
        return { status: res.status, code: res.body.errors?.[0]?.code ?? null, signedIn: Boolean(res.session) }
      },
    },
    {
      route: 'Frontend API sign_ins with the identifier, then attempt_first_factor',
      attempt: async (p) => {
        const started = await f.post(`/fapi/${p.instance.id}/v1/client/sign_ins`, { identifier: p.email }, { form: true })
        assert.equal(started.status, 200, JSON.stringify(started.body))
        const res = await f.post(`/fapi/${p.instance.id}/v1/client/sign_ins/${started.body.response.id}/attempt_first_factor`,
          { strategy: 'password', password: PASSWORD }, { form: true })
        return { status: res.status, code: res.body.errors?.[0]?.code ?? null, signedIn: Boolean(res.session) }
      },
    },
    {
      route: 'Frontend API sign_ins with an invitation ticket',
      attempt: async (p) => {
        const res = await f.post('/v1/client/sign_ins', { strategy: 'ticket', ticket: p.ticket }, { form: true })
        return { status: res.status, code: res.body.errors?.[0]?.code ?? null, signedIn: Boolean(res.session) }
      },
    },
    {
      route: 'Frontend API sign_ins with an organization invitation\'s ticket (joining signs in)',
      attempt: async (p) => {
        const org = await makeOrganization(p.api)
        const inv = await p.api.post(`/v1/organizations/${org.id}/invitations`, { email_address: p.email, role: 'org:member' })
        assert.equal(inv.status, 200, JSON.stringify(inv.body))
        const res = await f.post('/v1/client/sign_ins', { strategy: 'ticket', ticket: ticketOf(inv.body) }, { form: true })
        return { status: res.status, code: res.body.errors?.[0]?.code ?? null, signedIn: Boolean(res.session) }
      },
    },
  ]

  describe('banUser and unbanUser', () => {
    it('answer the User, banned and then not, in the spec\'s shape; a ban revokes the sessions and queues user.updated and session.revoked', async () => {
      const p = await person()
      const signedIn = await fapiSignIn(p)
      assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body))
      const sessionId = signedIn.body.response.created_session_id as string
      assert.ok(await p.clerk.sessions.getToken(sessionId), 'a token is minted before the ban')

      const banned = await p.clerk.users.banUser(p.userId)
      const raw = recorded('POST', `/v1/users/${p.userId}/ban`)
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('BanUser', 200), raw.body, 'POST /v1/users/{id}/ban 200 body')
      assert.equal(banned.banned, true)
      assert.equal(raw.body.banned, true)
      assert.equal(raw.body.locked, false)
      assert.equal((await p.clerk.users.getUser(p.userId)).banned, true)

      assert.equal((await p.clerk.sessions.getSession(sessionId)).status, 'revoked')
      const refused = await sdkError(p.clerk.sessions.getToken(sessionId))
      assert.equal(refused.status, 404)
      const me = await f.get('/v1/client', { session: signedIn.session!, instance: p.instance.id })
      assert.equal(me.body.response?.sessions?.length ?? 0, 0, 'the Frontend API no longer knows the session')
      const topics = await outboxTopics(t, p.instance.id)
      assert.ok(topics.includes('user.updated'), topics.join())
      assert.ok(topics.includes('session.revoked'), topics.join())
      const [updated] = await t.db.query<{ payload: any }>(`select payload from outbox where instance_id = $1 and topic = 'user.updated'`, [p.instance.id])
      assertMatchesSpec(webhookEventValidator('user.updated'), updated!.payload, 'user.updated payload')
      assert.equal(updated!.payload.data.banned, true)

      const unbanned = await p.clerk.users.unbanUser(p.userId)
      assertMatchesSpec(spec.response('UnbanUser', 200), recorded('POST', `/v1/users/${p.userId}/unban`).body, 'POST /v1/users/{id}/unban 200 body')
      assert.equal(unbanned.banned, false)
      assert.equal((await fapiSignIn(p)).status, 200)
    })

    for (const { route, attempt } of ROUTES) {
      it(`a banned user is refused with 403 user_banned on ${route}, and signs in there once unbanned`, async () => {
        const p = await person()
        await p.clerk.users.banUser(p.userId)
        assert.deepEqual(await attempt(p), { status: 403, code: 'user_banned', signedIn: false })
        await p.clerk.users.unbanUser(p.userId)
        const again = await attempt(p)
        assert.equal(again.signedIn, true, JSON.stringify(again))
      })
    }

    it('a banned user\'s Frontend API errors match the spec, and the handshake signs the old session out', async () => {
      const p = await person()
      const signedIn = await fapiSignIn(p)
      await p.clerk.users.banUser(p.userId)
      assertRefused(await fapiSignIn(p), 'user_banned')

      const res = await t.app.inject({
        method: 'GET',
        url: `/fapi/${p.instance.id}/v1/client/handshake?${new URLSearchParams({ redirect_url: `${APP}/welcome`, format: 'nonce', suffixed_cookies: 'false' })}`,
        headers: { cookie: `${SESSION_COOKIE}=${encodeURIComponent(signedIn.session!)}` },
      })
      assert.equal(res.statusCode, 307)
      const location = res.headers.location as string
      const clerk = createClerkClient({ secretKey: p.secretKey, apiUrl, publishableKey: p.instance.publishableKey, proxyUrl: apiUrl, telemetry: { disabled: true } })
      const state = await clerk.authenticateRequest(new Request(location, { headers: { accept: 'text/html', 'sec-fetch-dest': 'document' } }))
      assert.equal(state.status, 'signed-out', state.message ?? '')
    })
  })

  describe('lockUser and unlockUser', () => {
    it('lock for the instance\'s lockout duration with user_locked on every route, and unlock lifts it', async () => {
      const p = await person()
      const signedIn = await fapiSignIn(p)
      const sessionId = signedIn.body.response.created_session_id as string

      const locked = await p.clerk.users.lockUser(p.userId)
      const raw = recorded('POST', `/v1/users/${p.userId}/lock`)
      assertMatchesSpec(spec.response('LockUser', 200), raw.body, 'POST /v1/users/{id}/lock 200 body')
      assert.equal(locked.locked, true)
      assert.equal(raw.body.lockout_expires_in_seconds, 3600, 'Clerk\'s default: one hour')
      assert.equal(raw.body.verification_attempts_remaining, 100)
      assert.equal((await p.clerk.sessions.getSession(sessionId)).status, 'revoked')

      for (const { route, attempt } of ROUTES) {
        assert.deepEqual(await attempt(p), { status: 403, code: 'user_locked', signedIn: false }, route)
      }
      const refused = await fapiSignIn(p)
      assertRefused(refused, 'user_locked')
      assert.equal(refused.body.errors[0].meta.lockout_expires_in_seconds, 3600)

      const unlocked = await p.clerk.users.unlockUser(p.userId)
      assertMatchesSpec(spec.response('UnlockUser', 200), recorded('POST', `/v1/users/${p.userId}/unlock`).body, 'POST /v1/users/{id}/unlock 200 body')
      assert.equal(unlocked.locked, false)
      assert.equal(unlocked.raw?.lockout_expires_in_seconds ?? null, null)
      assert.equal((await fapiSignIn(p)).status, 200)
    })

    it('wrong passwords lock the account after the instance\'s max_attempts, until its duration passes on the test clock', async () => {
      const p = await person()
      const patched = await p.api.patch('/v1/instance', { user_lockout: { max_attempts: 3, duration_in_minutes: 5 } })
      assert.equal(patched.status, 200, JSON.stringify(patched.body))
      assert.deepEqual(patched.body.user_lockout, { enabled: true, max_attempts: 3, duration_in_minutes: 5 })
      for (const [body, param] of [[{ max_attempts: 0 }, 'max_attempts'], [{ duration_in_minutes: 'soon' }, 'duration_in_minutes'], [{ limit: 3 }, 'limit']] as const) {
        const bad = await p.api.patch('/v1/instance', { user_lockout: body })
        assert.equal(bad.status, 422, JSON.stringify(bad.body))
        assert.match(bad.body.errors[0].meta.param_name, new RegExp(param))
      }
      assert.deepEqual((await p.api.get('/v1/instance')).body.user_lockout, { enabled: true, max_attempts: 3, duration_in_minutes: 5 }, 'refused changes change nothing')

      for (let i = 0; i < 2; i++) assert.equal((await fapiSignIn(p, 'wrong password')).body.errors[0].code, 'form_password_incorrect')
      assert.equal((await p.clerk.users.getUser(p.userId)).raw?.verification_attempts_remaining, 1)
      assert.equal((await fapiSignIn(p, 'wrong password')).body.errors[0].code, 'form_password_incorrect')

      const refused = await fapiSignIn(p)
      assertRefused(refused, 'user_locked')
      assert.equal(refused.body.errors[0].meta.lockout_expires_in_seconds, 300)
      const user = await p.clerk.users.getUser(p.userId)
      assert.equal(user.locked, true)
      assertMatchesSpec(spec.response('GetUser', 200), recorded('GET', `/v1/users/${p.userId}`).body, 'GET /v1/users/{id} 200 body')

      const clock = await p.api.post('/v1/testing/clock', { advance_ms: 4 * 60_000 })
      assert.equal(clock.status, 200, JSON.stringify(clock.body))
      assertRefused(await fapiSignIn(p), 'user_locked')
      await p.api.post('/v1/testing/clock', { advance_ms: 60_000 })
      assert.equal((await p.clerk.users.getUser(p.userId)).locked, false)
      assert.equal((await fapiSignIn(p)).status, 200, 'the lock ended')
    })

    it('a successful sign-in starts the count again; unlockUser lifts an automatic lock; disabled lockout never locks', async () => {
      const p = await person()
      await p.api.patch('/v1/instance', { user_lockout: { max_attempts: 2 } })
      await fapiSignIn(p, 'wrong password')
      assert.equal((await fapiSignIn(p)).status, 200)
      await fapiSignIn(p, 'wrong password')
      assert.equal((await fapiSignIn(p)).status, 200, 'one failure since the last sign-in: not locked')

      await fapiSignIn(p, 'wrong password')
      await fapiSignIn(p, 'wrong password')
      assertRefused(await fapiSignIn(p), 'user_locked')
      await p.clerk.users.unlockUser(p.userId)
      assert.equal((await fapiSignIn(p)).status, 200)

      await p.api.patch('/v1/instance', { user_lockout: { enabled: false } })
      for (let i = 0; i < 3; i++) await fapiSignIn(p, 'wrong password')
      assert.equal((await fapiSignIn(p)).status, 200)
      assert.equal((await p.clerk.users.getUser(p.userId)).raw?.verification_attempts_remaining, null)
    })
  })

  describe('verifyPassword', () => {
    it('answers {verified: true} or 422 incorrect_password, 400 password_not_set without one; failures do not lock', async () => {
      const p = await person()
      await p.api.patch('/v1/instance', { user_lockout: { max_attempts: 2 } })
      assert.deepEqual(await p.clerk.users.verifyPassword({ userId: p.userId, password: PASSWORD }), { verified: true })
      assert.deepEqual(recorded('POST', `/v1/users/${p.userId}/verify_password`).body, { verified: true })
      assertMatchesSpec(spec.response('VerifyPassword', 200), recorded('POST', `/v1/users/${p.userId}/verify_password`).body, 'verify_password 200 body')

      for (let i = 0; i < 3; i++) {
        const wrong = await sdkError(p.clerk.users.verifyPassword({ userId: p.userId, password: 'wrong password' }))
        assert.equal(wrong.status, 422)
        assert.equal(wrong.errors[0]?.code, 'incorrect_password')
        assertMatchesSpec(spec.component('ClerkErrors'), recorded('POST', `/v1/users/${p.userId}/verify_password`).body, 'verify_password 422 body')
      }
      assert.equal((await fapiSignIn(p)).status, 200, 'verify_password failures do not count toward lockout')

      const noPassword = await p.clerk.users.createUser({ emailAddress: [uniqueEmail('nopw')] })
      const none = await sdkError(p.clerk.users.verifyPassword({ userId: noPassword.id, password: PASSWORD }))
      assert.equal(none.status, 400)
      assert.equal(none.errors[0]?.code, 'password_not_set')

      const missing = await p.api.post(`/v1/users/${p.userId}/verify_password`, {})
      assert.equal(missing.status, 422)
      assert.equal(missing.body.errors[0].meta.param_name, 'password')
    })
  })

  it('another instance\'s key gets 404 from every route, and changes nothing', async () => {
    const p = await person()
    const other = await t.newInstance()
    const clerk = createClerkClient({ secretKey: other.secretKey, apiUrl, telemetry: { disabled: true } })
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['ban', () => clerk.users.banUser(p.userId)],
      ['unban', () => clerk.users.unbanUser(p.userId)],
      ['lock', () => clerk.users.lockUser(p.userId)],
      ['unlock', () => clerk.users.unlockUser(p.userId)],
      ['verify_password', () => clerk.users.verifyPassword({ userId: p.userId, password: PASSWORD })],
    ]
    for (const [action, call] of calls) {
      const err = await sdkError(call())
      assert.equal(err.status, 404, action)
      assert.equal(err.errors[0]?.code, 'resource_not_found', action)
      assertMatchesSpec(spec.component('ClerkErrors'), recorded('POST', `/v1/users/${p.userId}/${action}`).body, `${action} 404 body`)
    }
    const user = await p.clerk.users.getUser(p.userId)
    assert.equal(user.banned, false)
    assert.equal(user.locked, false)
    assert.equal((await fapiSignIn(p)).status, 200)
  })
})
