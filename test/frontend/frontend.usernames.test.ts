import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { assertMatchesFapi } from '../helpers/spec.js'
import { SIGN_UP_COOKIE } from '../../src/accept/session-cookie.js'
import { assertClerkError, fapi, ticketOf, type Fapi, type FapiReply } from './fapi-client.js'

const PASSWORD = 'correct horse battery'

forEachDatabase('Frontend API with usernames', (engine) => {
  let t: TestApp
  let f: Fapi
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
  })
  after(() => t.close())

  /** An instance with usernames as given; `none` leaves them off (the default). */
  const newInstance = async (username: { enabled?: boolean; required?: boolean } | 'none' = { enabled: true }) => {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    if (username !== 'none') assert.equal((await api.patch('/v1/instance', { username })).status, 200)
    return { instance, api }
  }
  const unique = (prefix: string) => `${prefix}_${Math.random().toString(36).slice(2, 10)}`
  /** A user with a password and a username, made through the Backend API. */
  const member = async (api: ReturnType<typeof client>, username = unique('member')) => {
    const res = await api.post('/v1/users', { email_address: uniqueEmail('member'), password: PASSWORD, username })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return { id: res.body.id as string, email: res.body.email_addresses[0].email_address as string, username: res.body.username as string }
  }

  describe('GET /v1/environment', () => {
    it('says usernames are off by default, and on (then required) once the instance enables (then requires) them', async () => {
      const { instance, api } = await newInstance('none')
      const off = (await f.get('/v1/environment', { instance: instance.id })).body
      assert.equal(off.auth_config.username, 'off')
      assert.equal(off.user_settings.attributes.username.enabled, false)

      assert.equal((await api.patch('/v1/instance', { username: { enabled: true } })).status, 200)
      const on = await f.get('/v1/environment', { instance: instance.id })
      assertMatchesFapi('Client.Environment', on.body)
      assert.equal(on.body.auth_config.username, 'on')
      assert.deepEqual(on.body.auth_config.identification_strategies, ['email_address', 'username'])
      assert.equal(on.body.user_settings.attributes.username.enabled, true)
      assert.equal(on.body.user_settings.attributes.username.required, false)
      assert.equal(on.body.user_settings.attributes.username.used_for_first_factor, true)
      assert.equal(on.body.user_settings.username_settings.min_length, 4)
      assert.equal(on.body.user_settings.username_settings.max_length, 64)

      assert.equal((await api.patch('/v1/instance', { username: { required: true } })).status, 200)
      const required = (await f.get('/v1/environment', { instance: instance.id })).body
      assert.equal(required.auth_config.username, 'required')
      assert.equal(required.user_settings.attributes.username.required, true)
    })
  })

  describe('POST /v1/client/sign_ins', () => {
    it('signs in by username, whatever its case, as by email address, in one request and in two (identifier, then password)', async () => {
      const { instance, api } = await newInstance()
      const m = await member(api)
      const once = await f.post('/v1/client/sign_ins', { identifier: m.username.toUpperCase(), password: PASSWORD }, { instance: instance.id, form: true })
      assert.equal(once.status, 200, JSON.stringify(once.body))
      assertMatchesFapi('Client.ClientWrappedSignIn', once.body)
      assert.equal(once.body.response.status, 'complete')
      assert.equal(once.body.client.sessions[0].user.id, m.id)
      assert.equal(once.body.client.sessions[0].user.username, m.username)

      const started = await f.post('/v1/client/sign_ins', { identifier: m.username }, { instance: instance.id, form: true })
      assert.equal(started.status, 200, JSON.stringify(started.body))
      const done = await f.post(`/v1/client/sign_ins/${started.body.response.id}/attempt_first_factor`, { strategy: 'password', password: PASSWORD }, { instance: instance.id, form: true })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assert.equal(done.body.client.sessions[0].user.id, m.id)

      const byEmail = await f.post('/v1/client/sign_ins', { identifier: m.email, password: PASSWORD }, { instance: instance.id })
      assert.equal(byEmail.status, 200, 'the email address still signs in')
    })

    it('refuses a wrong password for a username as for an address, and a username where usernames are off is no account', async () => {
      const { instance, api } = await newInstance()
      const m = await member(api)
      assertClerkError(await f.post('/v1/client/sign_ins', { identifier: m.username, password: 'wrong password' }, { instance: instance.id }), 422, 'form_password_incorrect', 'password')
      assertClerkError(await f.post('/v1/client/sign_ins', { identifier: unique('ghost'), password: PASSWORD }, { instance: instance.id }), 422, 'form_identifier_not_found', 'identifier')
      // The username stays on the user, but the instance no longer takes it as an identifier.
      assert.equal((await api.patch('/v1/instance', { username: { enabled: false } })).status, 200)
      assertClerkError(await f.post('/v1/client/sign_ins', { identifier: m.username, password: PASSWORD }, { instance: instance.id }), 422, 'form_identifier_not_found', 'identifier')
    })

    it('a ban still refuses a sign-in by username (403 user_banned)', async () => {
      const { instance, api } = await newInstance()
      const m = await member(api)
      assert.equal((await api.post(`/v1/users/${m.id}/ban`)).status, 200)
      assertClerkError(await f.post('/v1/client/sign_ins', { identifier: m.username, password: PASSWORD }, { instance: instance.id }), 403, 'user_banned')
    })
  })

  describe('POST /v1/client/sign_ups', () => {
    const codeOf = async (attemptId: string) => t.services.accept.codeFor((await t.services.accept.findSignUpAttempt(attemptId))!)

    it('an emailed-code sign-up gives its username to the user it creates, who can then sign in with it', async () => {
      const { instance } = await newInstance()
      const username = unique('Coder')
      const started = await f.post('/v1/client/sign_ups', { email_address: uniqueEmail('code'), password: PASSWORD, username }, { instance: instance.id, form: true })
      assert.equal(started.status, 200, JSON.stringify(started.body))
      assertMatchesFapi('Client.ClientWrappedSignUp', started.body)
      assert.equal(started.body.response.username, username.toLowerCase())
      const id = started.body.response.id
      const done = await f.post(`/v1/client/sign_ups/${id}/attempt_verification`, { strategy: 'email_code', code: await codeOf(id) }, { instance: instance.id })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assert.equal(done.body.response.username, username.toLowerCase())
      assert.equal(done.body.client.sessions[0].user.username, username.toLowerCase())
      const again = await f.post('/v1/client/sign_ins', { identifier: username, password: PASSWORD }, { instance: instance.id })
      assert.equal(again.status, 200, JSON.stringify(again.body))
    })

    it('refuses a taken username (form_identifier_exists), a malformed one, a missing one where required, and any where usernames are off', async () => {
      const { instance, api } = await newInstance({ required: true })
      const m = await member(api)
      const signUp = (body: Record<string, unknown>, instanceId = instance.id) =>
        f.post('/v1/client/sign_ups', { email_address: uniqueEmail('su'), password: PASSWORD, ...body }, { instance: instanceId })
      assertClerkError(await signUp({ username: m.username.toUpperCase() }), 422, 'form_identifier_exists', 'username')
      assertClerkError(await signUp({ username: 'no' }), 422, 'form_username_invalid_length', 'username')
      assertClerkError(await signUp({}), 422, 'form_param_missing', 'username')
      const off = await newInstance('none')
      assertClerkError(await signUp({ username: unique('off') }, off.instance.id), 422, 'form_param_unknown', 'username')
    })

    it('a ticket sign-up takes a username at the start or with its password (clerk-js\'s PATCH), required where the instance requires one', async () => {
      const { api } = await newInstance({ required: true })
      const cookieOf = (res: FapiReply) => ({ [SIGN_UP_COOKIE]: res.cookies[SIGN_UP_COOKIE]! })
      const update = (started: FapiReply, body: Record<string, unknown>) =>
        f.post(`/v1/client/sign_ups/${started.body.response.id}?_method=PATCH`, body, { form: true, cookies: cookieOf(started) })

      // In one request: the username goes with the ticket and the password.
      const oneShot = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(await makeInvitation(api)), password: PASSWORD }, { form: true })
      assertClerkError(oneShot, 422, 'form_param_missing', 'username')
      const name = unique('invited')
      const withName = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(await makeInvitation(api)), password: PASSWORD, username: name }, { form: true })
      assert.equal(withName.status, 200, JSON.stringify(withName.body))
      assert.equal(withName.body.client.sessions[0].user.username, name)

      // In two: the ticket first, then the password; the username may come with either.
      const started = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(await makeInvitation(api)) }, { form: true })
      assert.equal(started.status, 200, JSON.stringify(started.body))
      assertClerkError(await update(started, { password: PASSWORD }), 422, 'form_param_missing', 'username')
      assertClerkError(await update(started, { password: PASSWORD, username: name }), 422, 'form_identifier_exists', 'username')
      const later = unique('later')
      const done = await update(started, { password: PASSWORD, username: later })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assert.equal(done.body.response.username, later)
      assert.equal(done.body.client.sessions[0].user.username, later)

      const early = unique('early')
      const startedNamed = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(await makeInvitation(api)), username: early }, { form: true })
      assert.equal(startedNamed.body.response.username, early)
      const doneNamed = await update(startedNamed, { password: PASSWORD })
      assert.equal(doneNamed.status, 200, JSON.stringify(doneNamed.body))
      assert.equal(doneNamed.body.client.sessions[0].user.username, early)
    })
  })
})
