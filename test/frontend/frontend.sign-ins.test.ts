import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { assertMatchesFapi } from '../helpers/spec.js'
import { newId } from '../../src/platform/ids.js'
import { hashPassword } from '../../src/users/passwords.js'
import { createUserStore } from '../../src/users/users.store.js'
import { fapi, outboxTopics, ticketOf, type Fapi, type FapiOptions, type FapiReply } from './fapi-client.js'

const PASSWORD = 'correct horse battery'

function assertClerkError(res: FapiReply, status: number, code: string, param?: string) {
  assert.equal(res.status, status, JSON.stringify(res.body))
  assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
  if (param !== undefined) assert.equal(res.body.errors[0].meta?.param_name, param)
  assertMatchesFapi('ClerkErrors', res.body)
  assert.equal(res.session, null, 'a refused request sets no session cookie')
}

forEachDatabase('Frontend API sign-ins and the Client', (engine) => {
  let t: TestApp
  let f: Fapi
  let hash: string
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    hash = await hashPassword(PASSWORD)
  })
  after(() => t.close())

  const newInstance = async () => {
    const { instance, secretKey } = await t.newInstance()
    return { instance, api: client(t.app, secretKey) }
  }
  /** A user who can sign in with PASSWORD. */
  const makeMember = async (instanceId: string, email = uniqueEmail('member')) => {
    const now = t.clock.now()
    const user = await createUserStore().insert(t.db, {
      id: newId('user', now), instanceId, emailId: newId('idn', now), emailAddress: email, verification: 'admin', passwordHash: hash, firstName: 'Existing', now,
    })
    return { id: user.id, email }
  }
  const isPending = async (api: Client, id: string) => (await api.get(`/v1/invitations?query=${id}&status=pending`)).body.length === 1
  const isAccepted = async (api: Client, id: string) => (await api.get(`/v1/invitations?query=${id}&status=accepted`)).body.length === 1
  const signIn = (body: Record<string, unknown>, o = {}) => f.post('/v1/client/sign_ins', body, o)

  describe('POST /v1/client/sign_ins with identifier and password', () => {
    it('completes, sets the session cookie and answers Clerk\'s {response: SignIn, client}', async () => {
      const { instance } = await newInstance()
      const member = await makeMember(instance.id)
      const res = await signIn({ identifier: member.email.toUpperCase(), password: PASSWORD }, { instance: instance.id, form: true })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.headers['content-type'], 'application/json')
      assertMatchesFapi('Client.ClientWrappedSignIn', res.body)
      const s = res.body.response
      assert.equal(s.object, 'sign_in_attempt')
      assert.equal(s.status, 'complete')
      assert.equal(s.identifier, member.email)
      assert.equal(s.first_factor_verification.strategy, 'password')
      assert.equal(s.first_factor_verification.status, 'verified')
      assert.match(s.created_session_id, /^sess_/)
      assert.ok(res.session)
      assert.equal(res.body.client.last_active_session_id, s.created_session_id)
      assert.equal(res.body.client.last_authentication_strategy, 'password')
      assert.equal(res.body.client.sessions[0].user.id, member.id)
    })

    it('refuses a wrong password (form_password_incorrect) and an unknown identifier (form_identifier_not_found) with 422', async () => {
      const { instance } = await newInstance()
      const member = await makeMember(instance.id)
      assertClerkError(await signIn({ identifier: member.email, password: 'wrong password' }, { instance: instance.id }), 422, 'form_password_incorrect', 'password')
      assertClerkError(await signIn({ identifier: uniqueEmail('ghost'), password: PASSWORD }, { instance: instance.id }), 422, 'form_identifier_not_found', 'identifier')
      assertClerkError(await signIn({ strategy: 'email_link', identifier: member.email }, { instance: instance.id }), 422, 'form_param_value_invalid', 'strategy')
    })

    it('signs in only within the instance named: another instance\'s account is unknown there', async () => {
      const a = await newInstance()
      const b = await newInstance()
      const member = await makeMember(a.instance.id)
      assertClerkError(await signIn({ identifier: member.email, password: PASSWORD }, { instance: b.instance.id }), 422, 'form_identifier_not_found')
    })

    it('refuses with 400 session_exists while the browser is signed in', async () => {
      const { instance } = await newInstance()
      const member = await makeMember(instance.id)
      const first = await signIn({ identifier: member.email, password: PASSWORD }, { instance: instance.id })
      assertClerkError(await signIn({ identifier: member.email, password: PASSWORD }, { instance: instance.id, session: first.session }), 400, 'session_exists')
    })
  })

  describe('POST /v1/client/sign_ins with the identifier alone, then attempt_first_factor with the password, as clerk-js sends them', () => {
    const CLERK_JS = '__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0'
    const start = (instanceId: string, identifier: string, o: FapiOptions = {}) =>
      f.post(`/fapi/${instanceId}/v1/client/sign_ins?${CLERK_JS}`, { identifier, locale: 'en-US' }, { form: true, ...o })
    const attempt = (instanceId: string, id: string, body: Record<string, unknown>, o: FapiOptions = {}) =>
      f.post(`/fapi/${instanceId}/v1/client/sign_ins/${id}/attempt_first_factor?${CLERK_JS}`, body, { form: true, ...o })

    it('answers needs_first_factor with password as the factor, telling nothing of the account; the password then completes it', async () => {
      const { instance } = await newInstance()
      const member = await makeMember(instance.id)
      const started = await start(instance.id, ` ${member.email.toUpperCase()} `, { origin: APP_ORIGIN })
      assert.equal(started.status, 200, JSON.stringify(started.body))
      assertMatchesFapi('Client.ClientWrappedSignIn', started.body)
      assert.equal(started.headers['access-control-allow-origin'], APP_ORIGIN)
      const s = started.body.response
      assert.equal(s.status, 'needs_first_factor')
      assert.deepEqual(s.supported_first_factors, [{ strategy: 'password' }])
      assert.equal(s.identifier, member.email)
      assert.equal(s.user_data, null)
      assert.equal(s.created_session_id, null)
      assert.equal(started.body.client, null)
      assert.equal(started.session, null)
      // An unknown address answers the same.
      const ghost = await start(instance.id, uniqueEmail('ghost'))
      assert.equal(ghost.status, 200)
      assert.deepEqual(Object.keys(ghost.body.response).sort(), Object.keys(s).sort())
      assert.equal(ghost.body.response.status, 'needs_first_factor')

      const done = await attempt(instance.id, s.id, { strategy: 'password', password: PASSWORD }, { origin: APP_ORIGIN })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assertMatchesFapi('Client.ClientWrappedSignIn', done.body)
      assert.equal(done.body.response.id, s.id)
      assert.equal(done.body.response.status, 'complete')
      assert.equal(done.body.response.first_factor_verification.strategy, 'password')
      assert.match(done.body.response.created_session_id, /^sess_/)
      assert.ok(done.session)
      assert.deepEqual(done.body.client.sessions.map((x: { id: string }) => x.id), [done.body.response.created_session_id])
      assert.equal(done.body.client.sessions[0].user.id, member.id)
      assert.equal(done.body.client.sign_in.id, s.id)

      // Once complete it takes no more passwords.
      assertClerkError(await attempt(instance.id, s.id, { strategy: 'password', password: PASSWORD }), 400, 'verification_already_verified')
    })

    it('a wrong password and an unknown address are refused as a one-request sign-in refuses them, and counted by the throttle', async () => {
      const { instance } = await newInstance()
      const member = await makeMember(instance.id)
      const s = (await start(instance.id, member.email)).body.response
      assertClerkError(await attempt(instance.id, s.id, { strategy: 'password', password: 'wrong password' }), 422, 'form_password_incorrect', 'password')
      assertClerkError(await attempt(instance.id, s.id, { strategy: 'password' }), 422, 'form_param_missing', 'password')
      const ghost = (await start(instance.id, uniqueEmail('ghost'))).body.response
      assertClerkError(await attempt(instance.id, ghost.id, { strategy: 'password', password: PASSWORD }), 422, 'form_identifier_not_found', 'identifier')
      // The right password still completes it.
      assert.equal((await attempt(instance.id, s.id, { strategy: 'password', password: PASSWORD })).status, 200)
      // Ten failures for one account, whichever way they come, and the eleventh is turned away.
      const locked = await makeMember(instance.id)
      for (let i = 0; i < 10; i++) {
        const id = (await start(instance.id, locked.email)).body.response.id
        assertClerkError(await attempt(instance.id, id, { strategy: 'password', password: 'wrong password' }), 422, 'form_password_incorrect')
      }
      const id = (await start(instance.id, locked.email)).body.response.id
      assertClerkError(await attempt(instance.id, id, { strategy: 'password', password: PASSWORD }), 429, 'too_many_requests')
    })

    it('a sign-in of another instance, or unknown, is not found; signed in already, session_exists', async () => {
      const a = await newInstance()
      const b = await newInstance()
      const member = await makeMember(a.instance.id)
      const s = (await start(a.instance.id, member.email)).body.response
      assertClerkError(await attempt(b.instance.id, s.id, { strategy: 'password', password: PASSWORD }), 404, 'resource_not_found')
      assertClerkError(await attempt(a.instance.id, 'sia_nope', { strategy: 'password', password: PASSWORD }), 404, 'resource_not_found')
      const first = await attempt(a.instance.id, s.id, { strategy: 'password', password: PASSWORD })
      const again = (await start(a.instance.id, member.email)).body.response
      assertClerkError(await attempt(a.instance.id, again.id, { strategy: 'password', password: PASSWORD }, { session: first.session }), 400, 'session_exists')
    })

    it('a sign-in is abandoned after a day', async () => {
      const { instance } = await newInstance()
      const member = await makeMember(instance.id)
      const s = (await start(instance.id, member.email)).body.response
      t.clock.advance(24 * 60 * 60 * 1000 + 1)
      assertClerkError(await attempt(instance.id, s.id, { strategy: 'password', password: PASSWORD }), 404, 'resource_not_found')
    })

    it('every other factor answers 422 naming strategy, never 500: Foyer\'s one factor is the password', async () => {
      const { instance } = await newInstance()
      const member = await makeMember(instance.id)
      const s = (await start(instance.id, member.email)).body.response
      for (const strategy of ['email_code', 'phone_code', 'email_link', 'passkey', 'web3_metamask_signature', 'oauth_google', 'reset_password_email_code', 'totp', 'ticket']) {
        const res = await attempt(instance.id, s.id, { strategy, code: '123456' })
        assertClerkError(res, 422, 'form_param_value_invalid', 'strategy')
        assert.match(res.body.errors[0].long_message, /Foyer does not support/)
        assertClerkError(await f.post(`/v1/client/sign_ins/${s.id}/prepare_first_factor`, { strategy }, { form: true }), 422, 'form_param_value_invalid', 'strategy')
      }
      assertClerkError(await f.post(`/v1/client/sign_ins/${s.id}/prepare_first_factor`, { strategy: 'password' }, { form: true }), 422, 'form_param_value_invalid', 'strategy')
      for (const action of ['prepare_second_factor', 'attempt_second_factor']) {
        const res = await f.post(`/v1/client/sign_ins/${s.id}/${action}`, { strategy: 'totp', code: '123456' }, { form: true })
        assertClerkError(res, 422, 'form_param_value_invalid', 'strategy')
        assert.match(res.body.errors[0].long_message, /no second factors/)
      }
      for (const strategy of ['oauth_google', 'passkey', 'web3_metamask_signature', 'phone_code', 'email_link', 'enterprise_sso']) {
        assertClerkError(await signIn({ strategy, identifier: member.email }, { instance: instance.id, form: true }), 422, 'form_param_value_invalid', 'strategy')
      }
      // Still waiting: the password completes it.
      assert.equal((await attempt(instance.id, s.id, { strategy: 'password', password: PASSWORD })).status, 200)
    })
  })

  describe('POST /v1/client/sign_ins with a ticket (an existing account accepting an invitation)', () => {
    it('strategy=ticket for the invited address\'s account: signs in and accepts the invitation', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api, { public_metadata: { plan: 'team' } })
      const member = await makeMember(instance.id, inv.email_address)
      const res = await signIn({ strategy: 'ticket', ticket: ticketOf(inv) }, { form: true })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.ClientWrappedSignIn', res.body)
      assert.equal(res.body.response.status, 'complete')
      assert.equal(res.body.response.first_factor_verification.strategy, 'ticket')
      assert.equal(res.body.client.sessions[0].user.id, member.id)
      assert.ok(res.session)
      assert.ok(await isAccepted(api, inv.id))
      assert.equal((await outboxTopics(t, instance.id)).filter((x) => x === 'invitation.accepted').length, 1)
      // The ticket is spent.
      assertClerkError(await signIn({ strategy: 'ticket', ticket: ticketOf(inv) }), 400, 'ticket_invalid', 'ticket')
    })

    it('identifier + password + ticket of the same account: accepts the invitation', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      await makeMember(instance.id, inv.email_address)
      const res = await signIn({ identifier: inv.email_address, password: PASSWORD, ticket: ticketOf(inv) }, { instance: instance.id })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.ok(await isAccepted(api, inv.id))
    })

    it('a ticket for another account is refused with 403, and the invitation stays pending', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      await makeMember(instance.id, inv.email_address)
      const other = await makeMember(instance.id)
      const res = await signIn({ identifier: other.email, password: PASSWORD, ticket: ticketOf(inv) }, { instance: instance.id })
      assertClerkError(res, 403, 'not_allowed_access', 'ticket')
      assert.ok(await isPending(api, inv.id))
      assert.deepEqual((await outboxTopics(t, instance.id)).filter((x) => x === 'invitation.accepted'), [])
    })

    it('strategy=ticket with no account for the address yet: 422 form_identifier_not_found, invitation pending', async () => {
      const { api } = await newInstance()
      const inv = await makeInvitation(api)
      assertClerkError(await signIn({ strategy: 'ticket', ticket: ticketOf(inv) }), 422, 'form_identifier_not_found', 'ticket')
      assert.ok(await isPending(api, inv.id))
    })

    it('a ticket of instance A cannot sign anyone in on instance B, even an account with the same address there', async () => {
      const a = await newInstance()
      const b = await newInstance()
      const inv = await makeInvitation(a.api)
      await makeMember(a.instance.id, inv.email_address)
      await makeMember(b.instance.id, inv.email_address)
      assertClerkError(await signIn({ strategy: 'ticket', ticket: ticketOf(inv) }, { instance: b.instance.id }), 400, 'ticket_invalid', 'ticket')
      assertClerkError(await signIn({ identifier: inv.email_address, password: PASSWORD, ticket: ticketOf(inv) }, { instance: b.instance.id }), 403, 'not_allowed_access', 'ticket')
      assert.ok(await isPending(a.api, inv.id))
    })

    it('expired and revoked tickets are refused with ticket_expired and ticket_invalid', async () => {
      const { instance, api } = await newInstance()
      const revoked = await makeInvitation(api)
      await makeMember(instance.id, revoked.email_address)
      await api.post(`/v1/invitations/${revoked.id}/revoke`)
      assertClerkError(await signIn({ strategy: 'ticket', ticket: ticketOf(revoked) }), 400, 'ticket_invalid', 'ticket')
      const expiring = await makeInvitation(api, { expires_in_days: 1 })
      await makeMember(instance.id, expiring.email_address)
      await api.post('/v1/testing/clock', { advance_ms: 24 * 60 * 60 * 1000 + 1 })
      assertClerkError(await signIn({ strategy: 'ticket', ticket: ticketOf(expiring) }), 400, 'ticket_expired', 'ticket')
    })
  })

  describe('GET /v1/client and signing out', () => {
    const signedIn = async () => {
      const { instance } = await newInstance()
      const member = await makeMember(instance.id)
      const res = await signIn({ identifier: member.email, password: PASSWORD }, { instance: instance.id })
      assert.equal(res.status, 200)
      return { instance, member, session: res.session!, sessionId: res.body.response.created_session_id as string }
    }

    it('GET /v1/client without a session answers {response: null, client: null}', async () => {
      for (const session of [undefined, 'not-a-session-token']) {
        const res = await f.get('/v1/client', { session })
        assert.equal(res.status, 200)
        assertMatchesFapi('Client.ClientWrappedClient', res.body)
        assert.deepEqual(res.body, { response: null, client: null })
      }
    })

    it('GET /v1/client lists the cookie\'s active session, only for the session\'s own instance', async () => {
      const s = await signedIn()
      const res = await f.get('/v1/client', { session: s.session })
      assertMatchesFapi('Client.ClientWrappedClient', res.body)
      assert.equal(res.body.response.object, 'client')
      assert.deepEqual(res.body.response.sessions.map((x: { id: string }) => x.id), [s.sessionId])
      assert.equal(res.body.response.sessions[0].user.id, s.member.id)
      assert.equal(res.body.response.sessions[0].public_user_data.identifier, s.member.email)
      const other = await newInstance()
      assert.deepEqual((await f.get('/v1/client', { session: s.session, instance: other.instance.id })).body, { response: null, client: null })
    })

    it('POST /v1/client/sessions/{id}/end ends the session and clears the cookie', async () => {
      const s = await signedIn()
      assertClerkError(await f.post('/v1/client/sessions/sess_someoneelse/end', undefined, { session: s.session }), 404, 'resource_not_found')
      const res = await f.post(`/v1/client/sessions/${s.sessionId}/end`, undefined, { session: s.session })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.ClientWrappedSession', res.body)
      assert.equal(res.body.response.id, s.sessionId)
      assert.equal(res.body.response.status, 'ended')
      assert.deepEqual(res.body.client.sessions, [])
      assert.equal(res.session, '', 'the cookie is cleared')
      assert.deepEqual((await f.get('/v1/client', { session: s.session })).body, { response: null, client: null })
      assertClerkError(await f.post(`/v1/client/sessions/${s.sessionId}/end`, undefined, { session: s.session }), 404, 'resource_not_found')
    })

    // @see issue 13
    it('POST /v1/client/sessions/{id}/remove removes the cookie\'s own session from the client: status removed, cookie cleared', async () => {
      const s = await signedIn()
      const other = await signedIn()
      for (const id of ['sess_someoneelse', other.sessionId]) {
        assertClerkError(await f.post(`/v1/client/sessions/${id}/remove`, undefined, { session: s.session }), 404, 'resource_not_found')
      }
      assertClerkError(await f.post(`/v1/client/sessions/${s.sessionId}/remove`), 404, 'resource_not_found')
      const res = await f.post(`/v1/client/sessions/${s.sessionId}/remove`, undefined, { session: s.session })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.ClientWrappedSession', res.body)
      assert.equal(res.body.response.id, s.sessionId)
      assert.equal(res.body.response.status, 'removed')
      assert.deepEqual(res.body.client.sessions, [])
      assert.equal(res.session, '', 'the cookie is cleared')
      assert.deepEqual((await f.get('/v1/client', { session: s.session })).body, { response: null, client: null })
      assertClerkError(await f.post(`/v1/client/sessions/${s.sessionId}/remove`, undefined, { session: s.session }), 404, 'resource_not_found')
      // The other person's session was not touched.
      assert.equal((await f.get('/v1/client', { session: other.session })).body.response.sessions[0].id, other.sessionId)
    })

    it('DELETE /v1/client signs out: the old token no longer signs anyone in', async () => {
      const s = await signedIn()
      const res = await f.delete('/v1/client', { session: s.session })
      assert.equal(res.status, 200)
      assertMatchesFapi('Client.DeleteSession', res.body)
      assert.deepEqual(res.body.response.sessions, [])
      assert.equal(res.session, '')
      assert.deepEqual((await f.get('/v1/client', { session: s.session })).body, { response: null, client: null })
      // And a new sign-in is allowed again with the old cookie still sent.
      const again = await signIn({ identifier: s.member.email, password: PASSWORD }, { instance: s.instance.id, session: s.session })
      assert.equal(again.status, 200)
    })

    it('DELETE /v1/client naming another instance still ends the cookie\'s session', async () => {
      const s = await signedIn()
      const other = await t.newInstance()
      await f.delete('/v1/client', { session: s.session, instance: other.instance.id })
      assert.equal(await t.services.accept.session(s.session), null, 'the token signs no one in any more')
    })
  })
})
