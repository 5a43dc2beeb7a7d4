import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation, makeOrganization, makeUser } from '../helpers/factories.js'
import { assertMatchesFapi } from '../helpers/spec.js'
import { SIGN_UP_COOKIE } from '../../src/accept/session-cookie.js'
import { fapi, outboxTopics, ticketOf, type Fapi, type FapiOptions, type FapiReply } from './fapi-client.js'

const DAY_MS = 24 * 60 * 60 * 1000
const PASSWORD = 'correct horse battery'
// What clerk-js adds to every request.
const CLERK_JS = '__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0'

function assertClerkError(res: FapiReply, status: number, code: string, param?: string) {
  assert.equal(res.status, status, JSON.stringify(res.body))
  assert.equal(res.headers['content-type'], 'application/json')
  assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
  if (param !== undefined) assert.equal(res.body.errors[0].meta?.param_name, param)
  assertMatchesFapi('ClerkErrors', res.body)
  assert.equal(res.session, null, 'a refused request sets no session cookie')
}

forEachDatabase('Frontend API sign-ups', (engine) => {
  let t: TestApp
  let f: Fapi
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
  })
  after(() => t.close())

  const newInstance = async () => {
    const { instance, secretKey } = await t.newInstance()
    return { instance, api: client(t.app, secretKey) }
  }
  const usersWith = async (instanceId: string, email: string) =>
    (await t.db.query<{ user_id: string; verification_strategy: string | null }>(
      'select user_id, verification_strategy from email_addresses where instance_id = $1 and email_address = $2', [instanceId, email]))
  const userCount = async (instanceId: string) =>
    Number((await t.db.query<{ n: string }>('select count(*) as n from users where instance_id = $1', [instanceId]))[0]!.n)
  const statusOf = async (api: Client, id: string) => (await api.get(`/v1/invitations?query=${id}&status=${'pending'}`)).body.length === 1
    ? 'pending' : (await api.get(`/v1/invitations?query=${id}&status=accepted`)).body.length === 1 ? 'accepted' : 'other'
  const signUp = (ticket: string, extra: Record<string, unknown> = {}, o = {}) =>
    f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket, password: PASSWORD, ...extra }, o)

  describe('POST /v1/client/sign_ups with strategy=ticket', () => {
    it('creates exactly one user with the invited address verified by the ticket and the invitation\'s public_metadata, and signs them in', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api, { public_metadata: { plan: 'pro', seats: 3 } })
      const res = await signUp(ticketOf(inv), { first_name: 'Ada', last_name: 'Lovelace', unsafe_metadata: { theme: 'dark' } })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.headers['content-type'], 'application/json')
      assertMatchesFapi('Client.ClientWrappedSignUp', res.body)

      const signUpObj = res.body.response
      assert.equal(signUpObj.object, 'sign_up_attempt')
      assert.equal(signUpObj.status, 'complete')
      assert.equal(signUpObj.email_address, inv.email_address)
      assert.deepEqual(signUpObj.unverified_fields, [])
      assert.deepEqual(signUpObj.missing_fields, [])
      assert.equal(signUpObj.verifications.email_address.status, 'verified')
      assert.equal(signUpObj.verifications.email_address.strategy, 'ticket')
      assert.deepEqual(signUpObj.public_metadata, { plan: 'pro', seats: 3 })
      assert.deepEqual(signUpObj.unsafe_metadata, { theme: 'dark' })
      assert.equal(signUpObj.first_name, 'Ada')
      assert.match(signUpObj.created_user_id, /^user_/)
      assert.match(signUpObj.created_session_id, /^sess_/)

      // The session cookie is set, and the Client lists that session with the new user.
      assert.ok(res.session && res.session.length > 20)
      assert.equal(res.body.client.last_active_session_id, signUpObj.created_session_id)
      assert.deepEqual(res.body.client.sessions.map((s: { id: string }) => s.id), [signUpObj.created_session_id])
      const user = res.body.client.sessions[0].user
      assert.equal(user.id, signUpObj.created_user_id)
      assert.deepEqual(user.public_metadata, { plan: 'pro', seats: 3 })
      assert.equal(user.email_addresses[0].email_address, inv.email_address)
      assert.equal(user.email_addresses[0].verification.status, 'verified')
      assert.equal(user.email_addresses[0].verification.strategy, 'ticket')
      assert.ok(!('private_metadata' in user), 'the Frontend API never shows private_metadata')

      const rows = await usersWith(instance.id, inv.email_address)
      assert.deepEqual(rows, [{ user_id: signUpObj.created_user_id, verification_strategy: 'ticket' }])
      assert.equal(await userCount(instance.id), 1)

      const accepted = await api.get('/v1/invitations?status=accepted')
      assert.deepEqual(accepted.body.map((i: { id: string }) => i.id), [inv.id])
      assert.equal(accepted.body[0].status, 'accepted')

      const current = await f.get('/v1/client', { session: res.session })
      assert.equal(current.status, 200)
      assertMatchesFapi('Client.ClientWrappedClient', current.body)
      assert.equal(current.body.response.id, res.body.client.id)
      assert.deepEqual(current.body.response.sessions.map((s: { id: string; status: string }) => [s.id, s.status]), [[signUpObj.created_session_id, 'active']])
    })

    it('queues invitation.accepted and user.created webhook events with the user', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      const res = await signUp(ticketOf(inv))
      assert.equal(res.status, 200)
      const rows = await t.db.query<{ kind: string; topic: string; subject_id: string; payload: { data: { id: string; status?: string } } }>(
        'select kind, topic, subject_id, payload from outbox where instance_id = $1 and topic in ($2, $3)', [instance.id, 'invitation.accepted', 'user.created'])
      const accepted = rows.filter((r) => r.topic === 'invitation.accepted')
      const created = rows.filter((r) => r.topic === 'user.created')
      assert.equal(accepted.length, 1)
      assert.equal(accepted[0]!.kind, 'webhook')
      assert.equal(accepted[0]!.payload.data.id, inv.id)
      assert.equal(accepted[0]!.payload.data.status, 'accepted')
      assert.equal(created.length, 1)
      assert.equal(created[0]!.kind, 'webhook')
      assert.equal(created[0]!.payload.data.id, res.body.response.created_user_id)
    })

    it('takes a form-encoded body, as Clerk\'s clients send it, with unsafe_metadata as JSON text', async () => {
      const { api } = await newInstance()
      const inv = await makeInvitation(api)
      const res = await signUp(ticketOf(inv), { first_name: 'Grace', unsafe_metadata: '{"a":1}' }, { form: true })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.response.status, 'complete')
      assert.equal(res.body.response.first_name, 'Grace')
      assert.deepEqual(res.body.response.unsafe_metadata, { a: 1 })
      const bad = await signUp(ticketOf(await makeInvitation(api)), { unsafe_metadata: '[1]' }, { form: true })
      assertClerkError(bad, 422, 'form_param_format_invalid', 'unsafe_metadata')
    })

    // @see issue 12
    it('refuses a __proto__ key in unsafe_metadata, as JSON text or in a JSON body, naming the key', async () => {
      const { api } = await newInstance()
      const asText = await signUp(ticketOf(await makeInvitation(api)), { unsafe_metadata: '{"theme":{"__proto__":{"x":1}}}' }, { form: true })
      assertClerkError(asText, 422, 'form_param_value_invalid', 'unsafe_metadata.theme.__proto__')
      const res = await t.app.inject({
        method: 'POST', url: '/v1/client/sign_ups', headers: { 'content-type': 'application/json' },
        payload: `{"strategy":"ticket","ticket":"${ticketOf(await makeInvitation(api))}","password":"correct horse battery","unsafe_metadata":{"__proto__":{"x":1}}}`,
      })
      assert.equal(res.statusCode, 422, res.body)
      assert.equal(JSON.parse(res.body).errors[0].meta.param_name, 'unsafe_metadata.__proto__')
    })

    it('a ticket alone, without strategy, is the ticket strategy', async () => {
      const { api } = await newInstance()
      const inv = await makeInvitation(api)
      const res = await f.post('/v1/client/sign_ups', { ticket: ticketOf(inv), password: PASSWORD })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.response.status, 'complete')
    })

    for (const n of [2, 10]) {
      it(`${n} concurrent sign-ups with one ticket: exactly one user and one success, the others ticket_invalid`, async () => {
        const { instance, api } = await newInstance()
        const inv = await makeInvitation(api)
        const results = await Promise.all(Array.from({ length: n }, (_, i) => signUp(ticketOf(inv), { first_name: `Racer ${i}` })))
        const ok = results.filter((r) => r.status === 200)
        assert.equal(ok.length, 1, results.map((r) => `${r.status} ${JSON.stringify(r.body).slice(0, 120)}`).join('\n'))
        for (const r of results.filter((x) => x.status !== 200)) assertClerkError(r, 400, 'ticket_invalid', 'ticket')
        assert.equal(await userCount(instance.id), 1)
        assert.deepEqual((await usersWith(instance.id, inv.email_address)).map((r) => r.user_id), [ok[0]!.body.response.created_user_id])
        const events = await outboxTopics(t, instance.id)
        assert.equal(events.filter((e) => e === 'invitation.accepted').length, 1)
        assert.equal(events.filter((e) => e === 'user.created').length, 1)
      })
    }

    it('refuses an expired ticket with 400 ticket_expired, creating nothing', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api, { expires_in_days: 1 })
      assert.equal((await api.post('/v1/testing/clock', { advance_ms: DAY_MS + 1 })).status, 200)
      assertClerkError(await signUp(ticketOf(inv)), 400, 'ticket_expired', 'ticket')
      assert.equal(await userCount(instance.id), 0)
      assert.equal((await api.get(`/v1/invitations?query=${inv.id}`)).body[0].status, 'expired')
    })

    it('refuses a revoked ticket with 400 ticket_invalid', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      assert.equal((await api.post(`/v1/invitations/${inv.id}/revoke`)).status, 200)
      assertClerkError(await signUp(ticketOf(inv)), 400, 'ticket_invalid', 'ticket')
      assert.equal(await userCount(instance.id), 0)
    })

    it('refuses a used ticket with 400 ticket_invalid', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      assert.equal((await signUp(ticketOf(inv))).status, 200)
      assertClerkError(await signUp(ticketOf(inv), { password: 'another password' }), 400, 'ticket_invalid', 'ticket')
      assert.equal(await userCount(instance.id), 1)
    })

    it('refuses unknown and malformed tickets with 400 ticket_invalid, never 500', async () => {
      for (const ticket of ['nope', 'A'.repeat(43), 'not a ticket!', 'x'.repeat(200), '']) {
        const res = await signUp(ticket)
        if (ticket === '') assertClerkError(res, 422, 'form_param_missing', 'ticket')
        else assertClerkError(res, 400, 'ticket_invalid', 'ticket')
      }
    })

    it('never gives the user another address than the invitation\'s: a different email_address is refused with 422', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      const other = uniqueEmail('victim')
      const res = await signUp(ticketOf(inv), { email_address: other })
      assertClerkError(res, 422, 'form_param_value_invalid', 'email_address')
      assert.deepEqual(await usersWith(instance.id, other), [])
      assert.equal(await userCount(instance.id), 0)
      assert.equal(await statusOf(api, inv.id), 'pending')

      // The invited address itself, in any case, is fine: the user gets it as invited.
      const same = await signUp(ticketOf(inv), { email_address: inv.email_address.toUpperCase() })
      assert.equal(same.status, 200, JSON.stringify(same.body))
      assert.equal(same.body.response.email_address, inv.email_address)
      assert.equal((await usersWith(instance.id, inv.email_address)).length, 1)
    })

    it('a ticket of instance A cannot be used for instance B', async () => {
      const a = await newInstance()
      const b = await newInstance()
      const inv = await makeInvitation(a.api)
      // Naming B while presenting A's ticket is refused, and touches neither instance.
      assertClerkError(await signUp(ticketOf(inv), {}, { instance: b.instance.id }), 400, 'ticket_invalid', 'ticket')
      assert.equal(await userCount(a.instance.id), 0)
      assert.equal(await userCount(b.instance.id), 0)
      assert.equal(await statusOf(a.api, inv.id), 'pending')
      // Without a name, the ticket's own instance gets the user; B sees nothing.
      const res = await signUp(ticketOf(inv))
      assert.equal(res.status, 200)
      assert.equal(await userCount(a.instance.id), 1)
      assert.equal(await userCount(b.instance.id), 0)
      assert.deepEqual((await b.api.get('/v1/invitations?status=accepted')).body, [])
    })

    it('refuses a short password with 422 form_password_length_too_short, leaving the invitation pending', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      assertClerkError(await signUp(ticketOf(inv), { password: 'short' }), 422, 'form_password_length_too_short', 'password')
      assert.equal(await userCount(instance.id), 0)
      assert.equal(await statusOf(api, inv.id), 'pending')
    })

    it('refuses with 422 form_identifier_exists when the invited address has meanwhile got an account', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      await makeUser(t.db, instance.id, inv.email_address)
      assertClerkError(await signUp(ticketOf(inv)), 422, 'form_identifier_exists')
      assert.equal(await statusOf(api, inv.id), 'pending')
    })

    it('refuses with 400 session_exists while the browser is signed in', async () => {
      const { api } = await newInstance()
      const first = await signUp(ticketOf(await makeInvitation(api)))
      const inv = await makeInvitation(api)
      assertClerkError(await signUp(ticketOf(inv), {}, { session: first.session }), 400, 'session_exists')
      assert.equal(await statusOf(api, inv.id), 'pending')
    })

    it('refuses strategies and identifiers Foyer does not have with 422 naming them, never 500', async () => {
      for (const strategy of ['oauth_google', 'oauth_github', 'phone_code', 'web3_metamask_signature', 'passkey', 'enterprise_sso', 'saml', 'google_one_tap', 'email_link']) {
        const res = await f.post('/v1/client/sign_ups', { strategy, email_address: uniqueEmail(), password: PASSWORD }, { form: true })
        assertClerkError(res, 422, 'form_param_value_invalid', 'strategy')
        assert.match(res.body.errors[0].long_message, new RegExp(`Foyer does not support the ${strategy} strategy`))
      }
      for (const param of ['phone_number', 'username', 'web3_wallet']) {
        assertClerkError(await f.post('/v1/client/sign_ups', { [param]: 'x', password: PASSWORD }, { form: true }), 422, 'form_param_unknown', param)
      }
      assertClerkError(await f.post('/v1/client/sign_ups', { strategy: 'email_code', ticket: 'abc', email_address: uniqueEmail(), password: PASSWORD }), 422, 'form_param_value_invalid', 'ticket')
    })
  })

  describe('POST /v1/client/sign_ups with a ticket and no password, then PATCH /v1/client/sign_ups/{id}, as clerk-js sends them', () => {
    /** clerk-js's signUp.create({strategy: 'ticket', ticket}): form-encoded, with the locale it adds. */
    const start = (ticket: string, extra: Record<string, unknown> = {}, o: FapiOptions = {}) =>
      f.post(`/v1/client/sign_ups?${CLERK_JS}`, { strategy: 'ticket', ticket, locale: 'en-US', timezone: 'UTC', ...extra }, { form: true, ...o })
    /** clerk-js's signUp.update(…): POST ?_method=PATCH, from the browser holding the sign-up cookie. */
    const update = (started: FapiReply, body: Record<string, unknown>, o: FapiOptions = {}) =>
      f.post(`/v1/client/sign_ups/${started.body.response.id}?${CLERK_JS}&_method=PATCH`, body, { form: true, cookies: signUpCookieOf(started), ...o })
    const signUpCookieOf = (res: FapiReply) => ({ [SIGN_UP_COOKIE]: res.cookies[SIGN_UP_COOKIE]! })

    it('answers missing_requirements, password missing and the invited address verified by the ticket; keeps the ticket\'s hash only, and accepts nothing yet', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api, { public_metadata: { plan: 'pro' } })
      const ticket = ticketOf(inv)
      const started = await start(ticket, { unsafe_metadata: '{"ref":"email"}' })
      assert.equal(started.status, 200, JSON.stringify(started.body))
      assertMatchesFapi('Client.ClientWrappedSignUp', started.body)
      const s = started.body.response
      assert.equal(s.status, 'missing_requirements')
      assert.deepEqual(s.missing_fields, ['password'])
      assert.deepEqual(s.unverified_fields, [])
      assert.ok(s.required_fields.includes('password') && s.required_fields.includes('email_address'), JSON.stringify(s.required_fields))
      assert.equal(s.email_address, inv.email_address)
      assert.equal(s.verifications.email_address.status, 'verified')
      assert.equal(s.verifications.email_address.strategy, 'ticket')
      assert.deepEqual(s.public_metadata, { plan: 'pro' })
      assert.deepEqual(s.unsafe_metadata, { ref: 'email' })
      assert.equal(s.created_user_id, null)
      assert.equal(s.created_session_id, null)
      assert.equal(started.body.client, null, 'no session, so no Client')
      assert.equal(started.session, null)
      assert.match(started.cookies[SIGN_UP_COOKIE] ?? '', /^[A-Za-z0-9]{43}$/)

      const rows = await t.db.query<Record<string, unknown>>('select * from ticket_sign_ups where id = $1', [s.id])
      assert.equal(rows.length, 1)
      assert.equal(rows[0]!.ticket_hash, t.services.tickets.hash(ticket))
      assert.ok(!JSON.stringify(rows).includes(ticket), 'the raw ticket is stored nowhere')
      assert.ok(!JSON.stringify(rows).includes(started.cookies[SIGN_UP_COOKIE]!), 'nor the browser\'s secret')
      assert.equal(await statusOf(api, inv.id), 'pending')
      assert.equal(await userCount(instance.id), 0)
      assert.deepEqual((await outboxTopics(t, instance.id)).filter((x) => x !== 'invitation.created'), [])

      const done = await update(started, { password: PASSWORD, first_name: 'Ada' }, { origin: APP_ORIGIN })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assertMatchesFapi('Client.ClientWrappedSignUp', done.body)
      assert.equal(done.headers['access-control-allow-origin'], APP_ORIGIN)
      const c = done.body.response
      assert.equal(c.id, s.id)
      assert.equal(c.status, 'complete')
      assert.deepEqual(c.missing_fields, [])
      assert.equal(c.first_name, 'Ada')
      assert.deepEqual(c.unsafe_metadata, { ref: 'email' })
      assert.deepEqual(c.public_metadata, { plan: 'pro' })
      assert.match(c.created_user_id, /^user_/)
      assert.match(c.created_session_id, /^sess_/)
      assert.ok(done.session, 'the session cookie is set')
      assert.deepEqual(done.body.client.sessions.map((x: { id: string }) => x.id), [c.created_session_id])
      assert.equal(done.body.client.sign_up.id, s.id)
      assert.deepEqual(await usersWith(instance.id, inv.email_address), [{ user_id: c.created_user_id, verification_strategy: 'ticket' }])
      assert.equal(await statusOf(api, inv.id), 'accepted')
      const user = done.body.client.sessions[0].user
      assert.equal(user.first_name, 'Ada')
      assert.deepEqual(user.public_metadata, { plan: 'pro' })
      assert.deepEqual(user.unsafe_metadata, { ref: 'email' })
      const events = await outboxTopics(t, instance.id)
      assert.equal(events.filter((e) => e === 'invitation.accepted').length, 1)
      assert.equal(events.filter((e) => e === 'user.created').length, 1)
      assert.equal((await f.get('/v1/client', { session: done.session })).body.response.sessions[0].user.id, c.created_user_id)

      // Complete: the same request again is refused, and so is the ticket.
      assertClerkError(await update(started, { password: PASSWORD }), 400, 'ticket_invalid', 'ticket')
      assertClerkError(await start(ticket), 400, 'ticket_invalid', 'ticket')
    })

    it('a PATCH without a password keeps names and metadata for the completion, and still waits', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      const started = await start(ticketOf(inv), { first_name: 'Grace' })
      const named = await update(started, { last_name: 'Hopper', unsafe_metadata: '{"team":"navy"}' })
      assert.equal(named.status, 200, JSON.stringify(named.body))
      assertMatchesFapi('Client.ClientWrappedSignUp', named.body)
      assert.equal(named.body.response.status, 'missing_requirements')
      assert.equal(named.body.response.first_name, 'Grace')
      assert.equal(named.body.response.last_name, 'Hopper')
      assert.equal(named.session, null)
      assert.equal(await userCount(instance.id), 0)
      const done = await update(started, { password: PASSWORD })
      assert.equal(done.body.response.status, 'complete', JSON.stringify(done.body))
      const user = done.body.client.sessions[0].user
      assert.deepEqual([user.first_name, user.last_name, user.unsafe_metadata], ['Grace', 'Hopper', { team: 'navy' }])
    })

    it('is refused from another browser, for another instance, and for an unknown id (404); a short password leaves it waiting', async () => {
      const a = await newInstance()
      const b = await newInstance()
      const inv = await makeInvitation(a.api)
      const started = await start(ticketOf(inv))
      assertClerkError(await update(started, { password: PASSWORD }, { cookies: {} }), 404, 'resource_not_found')
      assertClerkError(await update(started, { password: PASSWORD }, { cookies: { [SIGN_UP_COOKIE]: 'A'.repeat(43) } }), 404, 'resource_not_found')
      // Another browser's own sign-up cookie does not open this one.
      const elsewhere = await start(ticketOf(await makeInvitation(a.api)))
      assertClerkError(await update(started, { password: PASSWORD }, { cookies: signUpCookieOf(elsewhere) }), 404, 'resource_not_found')
      assertClerkError(await update(started, { password: PASSWORD }, { instance: b.instance.id }), 404, 'resource_not_found')
      assertClerkError(await f.post(`/v1/client/sign_ups/sua_nope?_method=PATCH`, { password: PASSWORD }, { form: true, cookies: signUpCookieOf(started) }), 404, 'resource_not_found')
      assertClerkError(await update(started, { password: 'short' }), 422, 'form_password_length_too_short', 'password')
      assertClerkError(await update(started, { password: PASSWORD, email_address: uniqueEmail('other') }), 422, 'form_param_value_invalid', 'email_address')
      assert.equal(await userCount(a.instance.id), 0)
      assert.equal(await statusOf(a.api, inv.id), 'pending')
      // Under the instance's own prefix it completes.
      const done = await f.post(`/fapi/${a.instance.id}/v1/client/sign_ups/${started.body.response.id}?_method=PATCH`, { password: PASSWORD },
        { form: true, cookies: signUpCookieOf(started) })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assert.equal(await userCount(a.instance.id), 1)
    })

    it('a ticket revoked or expired meanwhile answers ticket_invalid or ticket_expired, creating no one', async () => {
      const { instance, api } = await newInstance()
      const revoked = await makeInvitation(api)
      const expiring = await makeInvitation(api, { expires_in_days: 1 })
      const startedRevoked = await start(ticketOf(revoked))
      const startedExpiring = await start(ticketOf(expiring))
      assert.equal((await api.post(`/v1/invitations/${revoked.id}/revoke`)).status, 200)
      assertClerkError(await update(startedRevoked, { password: PASSWORD }), 400, 'ticket_invalid', 'ticket')
      assertClerkError(await update(startedRevoked, { first_name: 'Late' }), 400, 'ticket_invalid', 'ticket')
      assert.equal((await api.post('/v1/testing/clock', { advance_ms: DAY_MS + 1 })).status, 200)
      assertClerkError(await update(startedExpiring, { password: PASSWORD }), 400, 'ticket_expired', 'ticket')
      assert.equal(await userCount(instance.id), 0)
    })

    it('deleting the invitation deletes the sign-up waiting with its ticket', async () => {
      const { api } = await newInstance()
      const inv = await makeInvitation(api)
      const started = await start(ticketOf(inv), { first_name: 'Kept' })
      assert.equal((await api.delete(`/v1/invitations/${inv.id}`)).status, 200)
      assert.deepEqual(await t.db.query('select id from ticket_sign_ups where id = $1', [started.body.response.id]), [])
      assertClerkError(await update(started, { password: PASSWORD }), 404, 'resource_not_found')
    })

    it('the invited address getting an account meanwhile answers 422 form_identifier_exists', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      const started = await start(ticketOf(inv))
      await makeUser(t.db, instance.id, inv.email_address)
      assertClerkError(await update(started, { password: PASSWORD }), 422, 'form_identifier_exists')
      assertClerkError(await start(ticketOf(inv)), 422, 'form_identifier_exists')
    })

    it('a one-request sign-up with the same ticket wins over a waiting one, which then answers ticket_invalid', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      const started = await start(ticketOf(inv))
      assert.equal((await signUp(ticketOf(inv))).status, 200)
      assertClerkError(await update(started, { password: PASSWORD }), 400, 'ticket_invalid', 'ticket')
      assert.equal(await userCount(instance.id), 1)
    })

    it('two completions racing: exactly one user, the other ticket_invalid', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      const started = await start(ticketOf(inv))
      const results = await Promise.all([0, 1, 2].map((i) => update(started, { password: PASSWORD, first_name: `Racer ${i}` })))
      assert.equal(results.filter((r) => r.status === 200).length, 1, results.map((r) => `${r.status} ${JSON.stringify(r.body).slice(0, 160)}`).join('\n'))
      for (const r of results.filter((x) => x.status !== 200)) assertClerkError(r, 400, 'ticket_invalid', 'ticket')
      assert.equal(await userCount(instance.id), 1)
      assert.equal((await outboxTopics(t, instance.id)).filter((e) => e === 'user.created').length, 1)
    })

    it('an organization invitation\'s ticket: completing makes the membership, and the session acts in the organization', async () => {
      const { api } = await newInstance()
      const org = await makeOrganization(api)
      const invited = await api.post(`/v1/organizations/${org.id}/invitations`, { email_address: uniqueEmail('org'), role: 'org:member', notify: false })
      assert.equal(invited.status, 200, JSON.stringify(invited.body))
      const started = await start(ticketOf(invited.body))
      assert.equal(started.status, 200, JSON.stringify(started.body))
      assert.deepEqual(started.body.response.public_metadata, {})
      const done = await update(started, { password: PASSWORD })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assert.equal(done.body.client.sessions[0].last_active_organization_id, org.id)
      const members = await api.get(`/v1/organizations/${org.id}/memberships`)
      assert.ok(members.body.data.some((m: { public_user_data: { user_id: string } }) => m.public_user_data.user_id === done.body.response.created_user_id))
    })

    it('refuses identifiers Foyer accounts lack, another strategy, and changes to a sign-up waiting for its emailed code', async () => {
      const { instance, api } = await newInstance()
      assert.equal((await api.patch('/v1/instance', { sign_up_mode: 'public' })).status, 200)
      const started = await start(ticketOf(await makeInvitation(api)))
      for (const param of ['username', 'phone_number', 'web3_wallet']) {
        assertClerkError(await update(started, { [param]: 'x', password: PASSWORD }), 422, 'form_param_unknown', param)
      }
      assertClerkError(await update(started, { strategy: 'oauth_google' }), 422, 'form_param_value_invalid', 'strategy')
      const code = await f.post('/v1/client/sign_ups', { email_address: uniqueEmail('code'), password: PASSWORD }, { instance: instance.id })
      assert.equal(code.status, 200, JSON.stringify(code.body))
      assertClerkError(await f.post(`/v1/client/sign_ups/${code.body.response.id}?_method=PATCH`, { first_name: 'X' }, { form: true }), 422, 'form_param_value_invalid', 'sign_up_id')
      assert.equal(await userCount(instance.id), 0)
    })
  })

  describe('sign-up modes', () => {
    for (const mode of ['restricted', 'waitlist'] as const) {
      it(`${mode}: POST /v1/client/sign_ups without a ticket answers 403 sign_up_restricted; with one it completes`, async () => {
        const { instance, api } = await newInstance()
        assert.equal((await api.patch('/v1/instance', { sign_up_mode: mode })).status, 200)
        const res = await f.post('/v1/client/sign_ups', { email_address: uniqueEmail(), password: PASSWORD }, { instance: instance.id })
        assertClerkError(res, 403, 'sign_up_restricted')
        assert.equal(await outboxTopics(t, instance.id).then((x) => x.filter((y) => y === 'verification_code').length), 0, 'no code was sent')
        const inv = await makeInvitation(api)
        const ok = await signUp(ticketOf(inv))
        assert.equal(ok.status, 200, JSON.stringify(ok.body))
        assert.equal(ok.body.response.status, 'complete')
        assert.equal(await userCount(instance.id), 1)
      })
    }
  })

  describe('POST /v1/client/sign_ups with email_code, then attempt_verification', () => {
    const codeFromMailbox = async (attemptId: string) => {
      await t.outboxWorker.drain()
      const message = (await t.services.email.devMessages(200)).find((m) => m.subject_id === attemptId)
      assert.ok(message, 'the code was emailed to the dev mailbox')
      return /^(\d{6}) /.exec(message.subject)![1]!
    }
    const start = (instanceId: string, email: string, extra: Record<string, unknown> = {}, o = {}) =>
      f.post('/v1/client/sign_ups', { email_address: email, password: PASSWORD, ...extra }, { instance: instanceId, ...o })

    it('public mode: missing_requirements with the address unverified, then the emailed code completes it and signs in', async () => {
      const { instance } = await newInstance()
      const email = uniqueEmail('code')
      const started = await start(instance.id, email, { first_name: 'Alan', unsafe_metadata: { ref: 'blog' } })
      assert.equal(started.status, 200, JSON.stringify(started.body))
      assertMatchesFapi('Client.ClientWrappedSignUp', started.body)
      const s = started.body.response
      assert.equal(s.status, 'missing_requirements')
      assert.deepEqual(s.unverified_fields, ['email_address'])
      assert.deepEqual(s.missing_fields, [])
      assert.equal(s.email_address, email)
      assert.equal(s.created_user_id, null)
      assert.equal(s.created_session_id, null)
      assert.deepEqual(s.verifications.email_address, {
        object: 'verification_otp', status: 'unverified', strategy: 'email_code', attempts: 0, expire_at: s.verifications.email_address.expire_at,
        next_action: 'needs_attempt', supported_strategies: ['email_code'],
      })
      assert.equal(started.session, null, 'no session before the code comes back')
      assert.equal(await userCount(instance.id), 0)

      const code = await codeFromMailbox(s.id)
      const done = await f.post(`/v1/client/sign_ups/${s.id}/attempt_verification`, { strategy: 'email_code', code }, { form: true })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assertMatchesFapi('Client.ClientWrappedSignUp', done.body)
      assert.equal(done.body.response.id, s.id)
      assert.equal(done.body.response.status, 'complete')
      assert.deepEqual(done.body.response.unverified_fields, [])
      assert.equal(done.body.response.verifications.email_address.status, 'verified')
      assert.match(done.body.response.created_user_id, /^user_/)
      assert.ok(done.session)
      assert.deepEqual(await usersWith(instance.id, email), [{ user_id: done.body.response.created_user_id, verification_strategy: 'email_code' }])
      const user = done.body.client.sessions[0].user
      assert.equal(user.first_name, 'Alan')
      assert.deepEqual(user.unsafe_metadata, { ref: 'blog' })
      assert.equal(user.email_addresses[0].verification.strategy, 'email_code')
      assert.ok((await outboxTopics(t, instance.id)).includes('user.created'))

      const current = await f.get('/v1/client', { session: done.session })
      assertMatchesFapi('Client.ClientWrappedClient', current.body)
      assert.equal(current.body.response.sessions[0].user.email_addresses[0].verification.strategy, 'email_code')

      // The code is spent.
      assertClerkError(await f.post(`/v1/client/sign_ups/${s.id}/attempt_verification`, { strategy: 'email_code', code }), 400, 'verification_failed', 'code')
    })

    const codeEmailsOf = async (attemptId: string) => (await t.db.query(
      `select id from outbox where kind = 'email' and topic = 'verification_code' and subject_id = $1`, [attemptId])).length
    const codeOf = async (attemptId: string) => t.services.accept.codeFor((await t.services.accept.findSignUpAttempt(attemptId))!)
    const prepare = (id: string, body: Record<string, unknown> = { strategy: 'email_code' }) =>
      f.post(`/v1/client/sign_ups/${id}/prepare_verification?${CLERK_JS}`, body, { form: true })

    it('clerk-js\'s flow: create with address and password, prepare_verification (no second email while the first is fresh), then attempt_verification', async () => {
      const { instance } = await newInstance()
      const email = uniqueEmail('clerkjs')
      // signUp.create({emailAddress, password}): no strategy, form-encoded, with the locale clerk-js adds.
      const created = await f.post(`/fapi/${instance.id}/v1/client/sign_ups?${CLERK_JS}`, { email_address: email, password: PASSWORD, locale: 'en-US' }, { form: true })
      assert.equal(created.status, 200, JSON.stringify(created.body))
      const id = created.body.response.id
      const prepared = await f.post(`/fapi/${instance.id}/v1/client/sign_ups/${id}/prepare_verification?${CLERK_JS}`, { strategy: 'email_code' }, { form: true, origin: APP_ORIGIN })
      assert.equal(prepared.status, 200, JSON.stringify(prepared.body))
      assertMatchesFapi('Client.ClientWrappedSignUp', prepared.body)
      assert.equal(prepared.headers['access-control-allow-origin'], APP_ORIGIN)
      assert.equal(prepared.body.response.status, 'missing_requirements')
      assert.equal(prepared.body.response.verifications.email_address.status, 'unverified')
      assert.equal(prepared.body.response.verifications.email_address.next_action, 'needs_attempt')
      assert.equal(prepared.body.client, null)
      assert.equal(await codeEmailsOf(id), 1, 'one email: the one the start sent')
      const done = await f.post(`/fapi/${instance.id}/v1/client/sign_ups/${id}/attempt_verification?${CLERK_JS}`, { strategy: 'email_code', code: await codeFromMailbox(id) }, { form: true })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assert.equal(done.body.response.status, 'complete')
      assert.ok(done.session)
      assertClerkError(await prepare(id), 400, 'verification_already_verified', 'strategy')
    })

    it('prepare_verification 30 s after the last code emails a new one: the old code stops working; every email counts against the inbox\'s hourly budget', async () => {
      const { instance, api } = await newInstance()
      const started = await start(instance.id, uniqueEmail('resend'))
      const id = started.body.response.id
      const first = await codeOf(id)
      assert.equal(await codeEmailsOf(id), 1)
      await api.post('/v1/testing/clock', { advance_ms: 29_000 })
      assert.equal((await prepare(id)).status, 200)
      assert.equal(await codeEmailsOf(id), 1, 'too soon: no new code')
      await api.post('/v1/testing/clock', { advance_ms: 2_000 })
      const renewed = await prepare(id)
      assert.equal(renewed.status, 200, JSON.stringify(renewed.body))
      assert.equal(await codeEmailsOf(id), 2)
      const second = await codeOf(id)
      assert.ok(renewed.body.response.verifications.email_address.expire_at > started.body.response.verifications.email_address.expire_at, 'a new expiry')
      if (second !== first) {
        assertClerkError(await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code: first }), 422, 'form_code_incorrect', 'code')
      }
      // Three more (five code emails in the hour), then 429 and no email.
      for (let i = 0; i < 3; i++) {
        await api.post('/v1/testing/clock', { advance_ms: 31_000 })
        assert.equal((await prepare(id)).status, 200)
      }
      assert.equal(await codeEmailsOf(id), 5)
      await api.post('/v1/testing/clock', { advance_ms: 31_000 })
      const refused = await prepare(id)
      assertClerkError(refused, 429, 'too_many_requests')
      assert.ok(Number(refused.headers['retry-after']) > 0)
      assert.equal(await codeEmailsOf(id), 5)
      // The last code sent still completes it.
      const done = await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code: await codeOf(id) })
      assert.equal(done.status, 200, JSON.stringify(done.body))
    })

    it('an expired code comes back to life with prepare_verification, as a new code', async () => {
      const { instance, api } = await newInstance()
      const id = (await start(instance.id, uniqueEmail('expired'))).body.response.id
      await api.post('/v1/testing/clock', { advance_ms: 10 * 60 * 1000 + 1 })
      assertClerkError(await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code: await codeOf(id) }), 400, 'verification_expired', 'code')
      const renewed = await prepare(id)
      assert.equal(renewed.body.response.verifications.email_address.status, 'unverified')
      assert.equal((await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code: await codeOf(id) })).status, 200)
    })

    it('prepare_verification refuses other strategies (422 naming strategy), a ticket sign-up (verified already), another instance\'s or an unknown sign-up (404)', async () => {
      const a = await newInstance()
      const b = await newInstance()
      const id = (await start(a.instance.id, uniqueEmail('prep'))).body.response.id
      for (const strategy of ['phone_code', 'email_link', 'web3_metamask_signature', 'oauth_google', 'saml']) {
        const res = await prepare(id, { strategy })
        assertClerkError(res, 422, 'form_param_value_invalid', 'strategy')
        assert.match(res.body.errors[0].long_message, /Foyer does not support/)
        assertClerkError(await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy, code: '123456' }), 422, 'form_param_value_invalid', 'strategy')
      }
      assertClerkError(await f.post(`/v1/client/sign_ups/${id}/prepare_verification`, { strategy: 'email_code' }, { instance: b.instance.id }), 404, 'resource_not_found')
      assertClerkError(await prepare('sua_nope'), 404, 'resource_not_found')
      const ticketStarted = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(await makeInvitation(a.api)) }, { form: true })
      assertClerkError(await prepare(ticketStarted.body.response.id), 400, 'verification_already_verified', 'strategy')
      assert.equal(await codeEmailsOf(id), 1)
    })

    it('the code can also be derived with accept.codeFor (same code as emailed)', async () => {
      const { instance } = await newInstance()
      const started = await start(instance.id, uniqueEmail('derive'))
      const attempt = (await t.services.accept.findSignUpAttempt(started.body.response.id))!
      assert.equal(t.services.accept.codeFor(attempt), await codeFromMailbox(attempt.id))
    })

    it('a wrong code counts down the tries left and the sign-up locks after 5, even for the right code', async () => {
      const { instance } = await newInstance()
      const started = await start(instance.id, uniqueEmail('wrong'))
      const id = started.body.response.id
      const code = t.services.accept.codeFor((await t.services.accept.findSignUpAttempt(id))!)
      const wrong = code === '000000' ? '111111' : '000000'
      for (let i = 1; i <= 5; i++) {
        const res = await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code: wrong })
        assertClerkError(res, 422, 'form_code_incorrect', 'code')
        if (i < 5) assert.match(res.body.errors[0].long_message, new RegExp(`${5 - i} tr(y|ies) left`))
        else assert.match(res.body.errors[0].long_message, /last try/)
      }
      assertClerkError(await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code }), 400, 'verification_failed', 'code')
      assert.equal(await userCount(instance.id), 0)
    })

    it('caps wrong codes per address across attempts: a new attempt ends the old one, and after 10 wrong codes in an hour the next start is 429', async () => {
      const { instance } = await newInstance()
      const email = uniqueEmail('cap')
      const guessAll = async (id: string) => {
        const code = t.services.accept.codeFor((await t.services.accept.findSignUpAttempt(id))!)
        const wrong = code === '000000' ? '111111' : '000000'
        for (let i = 0; i < 5; i++) assertClerkError(await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code: wrong }), 422, 'form_code_incorrect', 'code')
        return code
      }
      const first = (await start(instance.id, email)).body.response.id
      const firstCode = t.services.accept.codeFor((await t.services.accept.findSignUpAttempt(first))!)
      const second = (await start(instance.id, email)).body.response.id
      assertClerkError(await f.post(`/v1/client/sign_ups/${first}/attempt_verification`, { strategy: 'email_code', code: firstCode }), 400, 'verification_failed', 'code')
      await guessAll(second)
      const third = (await start(instance.id, email)).body.response.id
      await guessAll(third)
      const refused = await start(instance.id, email)
      assertClerkError(refused, 429, 'too_many_requests')
      assert.ok(Number(refused.headers['retry-after']) > 0)
      assert.equal(await userCount(instance.id), 0)
    })

    it('refuses NUL hidden in unsafe_metadata sent as JSON text with 422, never 500', async () => {
      const { instance } = await newInstance()
      const res = await start(instance.id, uniqueEmail('nul'), { unsafe_metadata: JSON.stringify({ a: '\u0000' }) })
      assertClerkError(res, 422, 'form_param_format_invalid', 'unsafe_metadata.a')
    })

    it('ten concurrent wrong guesses spend exactly the five tries', async () => {
      const { instance } = await newInstance()
      const started = await start(instance.id, uniqueEmail('burst'))
      const id = started.body.response.id
      const code = t.services.accept.codeFor((await t.services.accept.findSignUpAttempt(id))!)
      const guesses = Array.from({ length: 10 }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'))
      const results = await Promise.all(guesses.map((g) => f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code: g })))
      assert.equal(results.filter((r) => r.status === 422).length, 5, results.map((r) => r.status).join(','))
      assert.equal(results.filter((r) => r.status === 400).length, 5)
      assert.equal((await t.services.accept.findSignUpAttempt(id))!.failed_attempts, 5)
    })

    it('an expired code answers 400 verification_expired', async () => {
      const { instance, api } = await newInstance()
      const started = await start(instance.id, uniqueEmail('late'))
      const id = started.body.response.id
      const code = t.services.accept.codeFor((await t.services.accept.findSignUpAttempt(id))!)
      await api.post('/v1/testing/clock', { advance_ms: 10 * 60 * 1000 + 1 })
      assertClerkError(await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code }), 400, 'verification_expired', 'code')
      assert.equal(await userCount(instance.id), 0)
    })

    it('revoking an invitation does not stop the address from signing up on its own in public mode', async () => {
      const { instance, api } = await newInstance()
      const inv = await makeInvitation(api)
      assert.equal((await api.post(`/v1/invitations/${inv.id}/revoke`)).status, 200)
      const started = await start(instance.id, inv.email_address)
      assert.equal(started.status, 200, JSON.stringify(started.body))
      const code = await codeFromMailbox(started.body.response.id)
      const done = await f.post(`/v1/client/sign_ups/${started.body.response.id}/attempt_verification`, { strategy: 'email_code', code })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      // Verified by the code, not the revoked ticket, and without the invitation's metadata.
      assert.deepEqual(await usersWith(instance.id, inv.email_address), [{ user_id: done.body.response.created_user_id, verification_strategy: 'email_code' }])
      assert.deepEqual(done.body.client.sessions[0].user.public_metadata, {})
      assert.equal((await api.get(`/v1/invitations?query=${inv.id}&status=revoked`)).body.length, 1)
    })

    it('refuses a taken address (422 form_identifier_exists), a short password, and a missing address', async () => {
      const { instance } = await newInstance()
      const email = uniqueEmail('taken')
      await makeUser(t.db, instance.id, email)
      assertClerkError(await start(instance.id, email), 422, 'form_identifier_exists', 'email_address')
      assertClerkError(await start(instance.id, uniqueEmail(), { password: 'short' }), 422, 'form_password_length_too_short', 'password')
      assertClerkError(await f.post('/v1/client/sign_ups', { password: PASSWORD }, { instance: instance.id }), 422, 'form_param_missing', 'email_address')
    })

    it('a sign-up of instance A is not found through instance B, nor for an unknown instance', async () => {
      const a = await newInstance()
      const b = await newInstance()
      const started = await start(a.instance.id, uniqueEmail('iso'))
      const id = started.body.response.id
      const code = t.services.accept.codeFor((await t.services.accept.findSignUpAttempt(id))!)
      assertClerkError(await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code }, { instance: b.instance.id }), 404, 'resource_not_found')
      assertClerkError(await f.post('/v1/client/sign_ups/sua_nope/attempt_verification', { strategy: 'email_code', code }), 404, 'resource_not_found')
      assertClerkError(await start('ins_doesnotexist', uniqueEmail()), 404, 'resource_not_found')
      assert.equal(await userCount(b.instance.id), 0)
      assert.equal((await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code })).status, 200)
      assert.equal(await userCount(a.instance.id), 1)
    })
  })
})
